"""Drives one session's MCP server with the official MCP Python SDK (the `mcp` package).

Usage: client.py '<json scenario>'. The scenario gives `url`, `headers` and `steps`; each step
is {"list": true} or {"call": name, "arguments": {...}}; an argument value "$workflow" is
replaced by the workflow id (`data.session_id`) of the last answer that carried one. Prints one JSON object: the server's
tool names and, per step, what the SDK returned (isError, structuredContent, text), or
{"refused": "<error>"} when the SDK could not talk to the server at all (e.g. a bad token).
The Rust test (tests/tests/it/mcp.rs) checks what a user would see.
"""

import asyncio
import json
import sys

from mcp import ClientSession
from mcp.client.streamable_http import create_mcp_http_client, streamable_http_client


def result_of(result):
    texts = [c.text for c in result.content if getattr(c, "type", "") == "text"]
    return {
        "isError": bool(result.is_error),
        "structuredContent": result.structured_content,
        "text": texts,
    }


async def run(scenario):
    out = {"steps": []}
    client = create_mcp_http_client(headers=scenario["headers"])
    async with client:
        async with streamable_http_client(scenario["url"], http_client=client) as streams:
            read, write = streams[0], streams[1]
            async with ClientSession(read, write) as session:
                init = await session.initialize()
                out["server"] = init.server_info.name
                workflow = None
                for step in scenario["steps"]:
                    if step.get("list"):
                        tools = await session.list_tools()
                        out["steps"].append({"tools": [t.name for t in tools.tools]})
                    else:
                        arguments = {
                            k: (workflow if v == "$workflow" else v)
                            for k, v in step.get("arguments", {}).items()
                        }
                        try:
                            result = await session.call_tool(step["call"], arguments)
                            seen = result_of(result)
                            data = (seen["structuredContent"] or {}).get("data") or {}
                            if isinstance(data, dict) and data.get("session_id"):
                                workflow = data["session_id"]
                            out["steps"].append(seen)
                        except Exception as e:  # a protocol error (e.g. an unknown tool)
                            out["steps"].append({"protocolError": str(e)})
    return out


def main():
    scenario = json.loads(sys.argv[1])
    try:
        out = asyncio.run(run(scenario))
    except BaseException as e:  # noqa: BLE001 - report any failure to connect as data
        leaf = e
        while isinstance(leaf, BaseExceptionGroup) and leaf.exceptions:
            leaf = leaf.exceptions[0]
        out = {"refused": f"{type(leaf).__name__}: {leaf}"}
    print(json.dumps(out))


if __name__ == "__main__":
    main()
