#!/usr/bin/env python3
"""Checks the rules of deploy/ that no Kubernetes schema expresses.

Run by scripts/validate-deploy.sh on each rendered kustomization (`kubectl kustomize DIR`),
after the schema validation:

    check_manifests.py render NAME RENDERED.yaml [--external-secret NAME ...]
        every container: non-root (uid 10001), read-only root filesystem, no privilege
        escalation, all capabilities dropped, seccomp RuntimeDefault, requests and limits;
        references (ConfigMaps, Secrets, Service and PDB selectors, HPA targets) resolve
        (Secrets in PROVIDED_SECRETS come from outside by design);
        the Switchboard services: probes, replicas, grace periods above shutdown_grace_secs;
        NetworkPolicies: workers, NATS and Redis take traffic only from named peers.
    check_manifests.py secrets DEPLOY_DIR
        no Secret with values and no secretGenerator literals in the sources; every
        secretGenerator file is git-ignored, untracked and has a *.example beside it whose
        values are placeholders.
    check_manifests.py extract RENDERED.yaml OUT_DIR
        writes the rendered Switchboard config file and the Secrets' variables (as an env
        file), for loading them with the real config loader.

Prints each problem on its own line and exits 1 when there is any.
"""

from __future__ import annotations

import argparse
import base64
import os
import re
import subprocess
import sys
from pathlib import Path

import yaml

UID = 10001
APP = {
    "switchboard-gateway": "gateway",
    "switchboard-worker": "worker",
    "switchboard-triggers": "triggers",
}
WORKLOAD_KINDS = {"Deployment", "StatefulSet", "DaemonSet", "ReplicaSet", "Job"}
PLACEHOLDER = re.compile(r"^(|REPLACE_[A-Z0-9_]+)$")
# Values that name things rather than hold secrets may be given in an example.
NON_SECRET_KEYS = re.compile(r"CURRENT_KEY$")
# Secrets that workloads mount but no kustomization here generates, by design: certificates
# are issued and renewed outside (cert-manager, or kubectl create secret). switchboard-tls: the
# prod overlay's TLS files for NATS and Redis (ca.crt, tls.crt, tls.key).
PROVIDED_SECRETS = {"switchboard-tls"}


def load_all(path: Path) -> list[dict]:
    with path.open() as f:
        return [d for d in yaml.safe_load_all(f) if d]


def pod_spec(obj: dict) -> dict | None:
    kind = obj.get("kind")
    if kind in WORKLOAD_KINDS:
        return obj.get("spec", {}).get("template", {}).get("spec")
    if kind == "CronJob":
        return obj["spec"]["jobTemplate"]["spec"]["template"]["spec"]
    if kind == "Pod":
        return obj.get("spec")
    return None


def pod_labels(obj: dict) -> dict:
    if obj.get("kind") == "Pod":
        return obj.get("metadata", {}).get("labels", {}) or {}
    return obj.get("spec", {}).get("template", {}).get("metadata", {}).get("labels", {}) or {}


def selector_matches(selector: dict | None, labels: dict) -> bool:
    """A LabelSelector (matchLabels and matchExpressions) against a label set."""
    if not selector:
        return True
    for k, v in (selector.get("matchLabels") or {}).items():
        if labels.get(k) != v:
            return False
    for expr in selector.get("matchExpressions") or []:
        key, op, values = expr["key"], expr["operator"], expr.get("values") or []
        if op == "In" and labels.get(key) not in values:
            return False
        if op == "NotIn" and labels.get(key) in values:
            return False
        if op == "Exists" and key not in labels:
            return False
        if op == "DoesNotExist" and key in labels:
            return False
    return True


class Checker:
    def __init__(self, name: str, docs: list[dict], external_secrets: set[str]):
        self.name = name
        self.docs = docs
        self.external_secrets = external_secrets
        self.problems: list[str] = []

    def fail(self, where: str, problem: str) -> None:
        self.problems.append(f"{self.name}: {where}: {problem}")

    def by_kind(self, kind: str) -> list[dict]:
        return [d for d in self.docs if d.get("kind") == kind]

    def names(self, kind: str) -> set[str]:
        return {d["metadata"]["name"] for d in self.by_kind(kind)}

    def workloads(self) -> list[dict]:
        return [d for d in self.docs if pod_spec(d) is not None]

    @staticmethod
    def ref(obj: dict) -> str:
        return f"{obj['kind']}/{obj['metadata']['name']}"

    # Containers -------------------------------------------------------------------------

    def check_containers(self) -> None:
        for obj in self.workloads():
            spec = pod_spec(obj)
            pod_sc = spec.get("securityContext") or {}
            for flag in ("hostNetwork", "hostPID", "hostIPC"):
                if spec.get(flag):
                    self.fail(self.ref(obj), f"{flag} is on")
            containers = (spec.get("initContainers") or []) + (spec.get("containers") or [])
            for c in containers:
                where = f"{self.ref(obj)} container {c['name']}"
                sc = c.get("securityContext") or {}

                def effective(key: str):
                    return sc[key] if key in sc else pod_sc.get(key)

                if effective("runAsNonRoot") is not True:
                    self.fail(where, "runAsNonRoot is not true")
                if effective("runAsUser") != UID:
                    self.fail(where, f"runAsUser is {effective('runAsUser')!r}, not {UID}")
                if sc.get("readOnlyRootFilesystem") is not True:
                    self.fail(where, "readOnlyRootFilesystem is not true")
                if sc.get("allowPrivilegeEscalation") is not False:
                    self.fail(where, "allowPrivilegeEscalation is not false")
                if sc.get("privileged"):
                    self.fail(where, "privileged")
                caps = sc.get("capabilities") or {}
                if "ALL" not in (caps.get("drop") or []):
                    self.fail(where, "capabilities do not drop ALL")
                if caps.get("add"):
                    self.fail(where, f"capabilities add {caps['add']}")
                seccomp = (effective("seccompProfile") or {}).get("type")
                if seccomp != "RuntimeDefault":
                    self.fail(where, f"seccompProfile is {seccomp!r}, not RuntimeDefault")
                resources = c.get("resources") or {}
                for part in ("requests", "limits"):
                    for res in ("cpu", "memory"):
                        if res not in (resources.get(part) or {}):
                            self.fail(where, f"no resources.{part}.{res}")
                image = c.get("image", "")
                if ":" not in image.rsplit("/", 1)[-1] and "@" not in image:
                    self.fail(where, f"image {image!r} has no tag")

    # References -------------------------------------------------------------------------

    def check_references(self) -> None:
        configmaps, secrets = self.names("ConfigMap"), self.names("Secret")
        secrets_ok = secrets | self.external_secrets | PROVIDED_SECRETS
        for obj in self.workloads():
            spec = pod_spec(obj)
            for v in spec.get("volumes") or []:
                if "configMap" in v and v["configMap"]["name"] not in configmaps:
                    self.fail(self.ref(obj), f"volume {v['name']}: no ConfigMap {v['configMap']['name']}")
                if "secret" in v and v["secret"]["secretName"] not in secrets_ok:
                    self.fail(self.ref(obj), f"volume {v['name']}: no Secret {v['secret']['secretName']}")
            for c in (spec.get("initContainers") or []) + (spec.get("containers") or []):
                for src in c.get("envFrom") or []:
                    if "secretRef" in src and src["secretRef"]["name"] not in secrets_ok:
                        self.fail(self.ref(obj), f"envFrom: no Secret {src['secretRef']['name']}")
                    if "configMapRef" in src and src["configMapRef"]["name"] not in configmaps:
                        self.fail(self.ref(obj), f"envFrom: no ConfigMap {src['configMapRef']['name']}")
                for e in c.get("env") or []:
                    vf = e.get("valueFrom") or {}
                    if "secretKeyRef" in vf and vf["secretKeyRef"]["name"] not in secrets_ok:
                        self.fail(self.ref(obj), f"env {e['name']}: no Secret {vf['secretKeyRef']['name']}")
                    if "configMapKeyRef" in vf and vf["configMapKeyRef"]["name"] not in configmaps:
                        self.fail(self.ref(obj), f"env {e['name']}: no ConfigMap {vf['configMapKeyRef']['name']}")
            sa = spec.get("serviceAccountName")
            if sa and sa not in self.names("ServiceAccount"):
                self.fail(self.ref(obj), f"no ServiceAccount {sa}")

        workloads = self.workloads()
        for svc in self.by_kind("Service"):
            selector = svc["spec"].get("selector")
            if not selector:
                continue
            pods = [w for w in workloads if selector_matches({"matchLabels": selector}, pod_labels(w))]
            if not pods:
                self.fail(self.ref(svc), f"selector {selector} matches no pod template")
                continue
            port_names = {
                p["name"]
                for w in pods
                for c in pod_spec(w).get("containers") or []
                for p in c.get("ports") or []
                if "name" in p
            }
            for port in svc["spec"].get("ports") or []:
                target = port.get("targetPort")
                if isinstance(target, str) and target not in port_names:
                    self.fail(self.ref(svc), f"targetPort {target!r} is no container port name")
        for pdb in self.by_kind("PodDisruptionBudget"):
            if not any(selector_matches(pdb["spec"]["selector"], pod_labels(w)) for w in workloads):
                self.fail(self.ref(pdb), "selector matches no pod template")
        for hpa in self.by_kind("HorizontalPodAutoscaler"):
            target = hpa["spec"]["scaleTargetRef"]
            matches = [d for d in self.by_kind(target["kind"]) if d["metadata"]["name"] == target["name"]]
            if not matches:
                self.fail(self.ref(hpa), f"scale target {target['kind']}/{target['name']} does not exist")
            elif "replicas" in matches[0]["spec"]:
                self.fail(self.ref(matches[0]), "sets replicas although an HPA owns the count")
        for pol in self.by_kind("NetworkPolicy"):
            if not any(selector_matches(pol["spec"]["podSelector"], pod_labels(w)) for w in workloads):
                self.fail(self.ref(pol), "podSelector matches no pod template")

    # The Switchboard services -----------------------------------------------------------

    def app_config(self, obj: dict) -> dict | None:
        """The Switchboard config file a service's pod mounts (via SWITCHBOARD_CONFIG)."""
        spec = pod_spec(obj)
        container = spec["containers"][0]
        path = next((e.get("value") for e in container.get("env") or [] if e["name"] == "SWITCHBOARD_CONFIG"), None)
        if not path:
            self.fail(self.ref(obj), "SWITCHBOARD_CONFIG is not set")
            return None
        directory, key = os.path.split(path)
        mount = next((m for m in container.get("volumeMounts") or [] if m["mountPath"] == directory), None)
        volume = mount and next((v for v in spec.get("volumes") or [] if v["name"] == mount["name"]), None)
        if not volume or "configMap" not in volume:
            self.fail(self.ref(obj), f"no ConfigMap is mounted at {directory}")
            return None
        cm = next((d for d in self.by_kind("ConfigMap") if d["metadata"]["name"] == volume["configMap"]["name"]), None)
        if cm is None or key not in (cm.get("data") or {}):
            self.fail(self.ref(obj), f"the mounted ConfigMap has no {key}")
            return None
        return yaml.safe_load(cm["data"][key]) or {}

    def check_services(self) -> None:
        found = {}
        for obj in self.by_kind("Deployment"):
            name = obj["metadata"]["name"]
            if name not in APP:
                continue
            found[APP[name]] = obj
            spec = pod_spec(obj)
            container = spec["containers"][0]
            binary = f"/usr/local/bin/{name}"
            if container.get("command") != [binary]:
                self.fail(self.ref(obj), f"command is {container.get('command')}, not [{binary}]")
            config = self.app_config(obj)
            grace = (config or {}).get("shutdown_grace_secs", 30)
            pre_stop = ((container.get("lifecycle") or {}).get("preStop") or {}).get("sleep", {}).get("seconds", 0)
            tgps = spec.get("terminationGracePeriodSeconds", 30)
            if tgps <= grace + pre_stop:
                self.fail(
                    self.ref(obj),
                    f"terminationGracePeriodSeconds {tgps} is not above shutdown_grace_secs {grace}"
                    + (f" + preStop {pre_stop}" if pre_stop else ""),
                )
        for component in APP.values():
            if component not in found:
                self.fail("services", f"no {component} Deployment")
        if "gateway" in found:
            gw = found["gateway"]
            c = pod_spec(gw)["containers"][0]
            if gw["spec"].get("replicas", 1) < 2:
                self.fail(self.ref(gw), "fewer than 2 replicas")
            if (c.get("readinessProbe") or {}).get("httpGet", {}).get("path") != "/readyz":
                self.fail(self.ref(gw), "readiness probe is not GET /readyz")
            if (c.get("livenessProbe") or {}).get("httpGet", {}).get("path") != "/healthz":
                self.fail(self.ref(gw), "liveness probe is not GET /healthz")
            if (c.get("startupProbe") or {}).get("grpc", {}).get("port") != 50051:
                self.fail(self.ref(gw), "startup probe is not grpc.health.v1 on 50051")
            if not any(
                p.get("spec", {}).get("minAvailable", 0) not in (0, "0")
                and selector_matches(p["spec"]["selector"], pod_labels(gw))
                for p in self.by_kind("PodDisruptionBudget")
            ):
                self.fail(self.ref(gw), "no PodDisruptionBudget with minAvailable")
        if "triggers" in found and found["triggers"]["spec"].get("replicas", 1) < 2:
            self.fail(self.ref(found["triggers"]), "fewer than 2 replicas")
        if "worker" in found:
            worker = found["worker"]
            hpas = [
                h for h in self.by_kind("HorizontalPodAutoscaler")
                if h["spec"]["scaleTargetRef"]["name"] == worker["metadata"]["name"]
            ]
            if not hpas:
                self.fail(self.ref(worker), "no HorizontalPodAutoscaler")
            for h in hpas:
                if h["apiVersion"] != "autoscaling/v2":
                    self.fail(self.ref(h), "not autoscaling/v2")
                if not any(m.get("type") == "Resource" and m["resource"]["name"] == "cpu" for m in h["spec"].get("metrics") or []):
                    self.fail(self.ref(h), "does not scale on CPU")
            ports = {p.get("name"): p["containerPort"] for p in pod_spec(worker)["containers"][0].get("ports") or []}
            if "metrics" not in ports:
                self.fail(self.ref(worker), "no metrics container port")
            config = self.app_config(worker) or {}
            addr = (config.get("worker") or {}).get("metrics_addr")
            if addr and "metrics" in ports and not addr.endswith(f":{ports['metrics']}"):
                self.fail(self.ref(worker), f"worker.metrics_addr {addr} is not on the metrics port {ports['metrics']}")

    # Network policies -------------------------------------------------------------------

    def policies_for(self, obj: dict) -> list[dict]:
        return [
            p for p in self.by_kind("NetworkPolicy")
            if "Ingress" in (p["spec"].get("policyTypes") or ["Ingress"])
            and selector_matches(p["spec"]["podSelector"], pod_labels(obj))
        ]

    def check_network_policies(self) -> None:
        for obj in self.workloads():
            policies = self.policies_for(obj)
            if not policies:
                self.fail(self.ref(obj), "no NetworkPolicy restricts its ingress")
                continue
            name = obj["metadata"]["name"]
            if name in ("switchboard-gateway", "switchboard-triggers"):
                continue  # they take traffic from outside, on their own ports
            for pol in policies:
                for rule in pol["spec"].get("ingress") or []:
                    sources = rule.get("from") or []
                    if not sources:
                        self.fail(self.ref(pol), f"lets anyone reach {self.ref(obj)}")
                    for src in sources:
                        if "ipBlock" in src:
                            self.fail(self.ref(pol), f"lets an ipBlock reach {self.ref(obj)}")
                        if "namespaceSelector" in src:
                            # Another namespace: the monitoring one, for metrics only.
                            ns = (src["namespaceSelector"].get("matchLabels") or {}).get("kubernetes.io/metadata.name")
                            if ns != "monitoring":
                                self.fail(self.ref(pol), f"lets namespaces {src['namespaceSelector']} reach {self.ref(obj)}")

    def run(self) -> list[str]:
        self.check_containers()
        self.check_references()
        self.check_services()
        self.check_network_policies()
        return self.problems


# Secrets in the sources -------------------------------------------------------------------


def git(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run(["git", *args], cwd=cwd, capture_output=True, text=True)


def check_secrets(deploy: Path) -> list[str]:
    problems = []
    for path in sorted(deploy.rglob("*.y*ml")):
        try:
            docs = load_all(path)
        except yaml.YAMLError as e:
            problems.append(f"{os.path.relpath(path)}: not YAML: {e}")
            continue
        for doc in docs:
            if not isinstance(doc, dict):
                continue
            if doc.get("kind") == "Secret" and (doc.get("data") or doc.get("stringData")):
                problems.append(f"{os.path.relpath(path)}: Secret {doc['metadata']['name']} carries values in the repository")
            for gen in doc.get("secretGenerator") or []:
                if gen.get("literals"):
                    problems.append(f"{os.path.relpath(path)}: secretGenerator {gen['name']} has literals")
                for entry in (gen.get("envs") or []) + (gen.get("files") or []):
                    file = path.parent / entry.split("=", 1)[-1]
                    problems += check_secret_file(file, deploy)
    return problems


def check_secret_file(file: Path, deploy: Path) -> list[str]:
    problems = []
    repo = deploy.parent
    rel = os.path.relpath(file, repo)
    example = file.with_name(file.name + ".example")
    if not example.is_file():
        problems.append(f"{rel}: no {example.name} beside it")
    else:
        for n, line in enumerate(example.read_text().splitlines(), 1):
            line = line.strip()
            if not line or line.startswith("#"):
                continue
            key, _, value = line.partition("=")
            if not NON_SECRET_KEYS.search(key) and not PLACEHOLDER.match(value):
                problems.append(f"{rel}.example:{n}: {key} has a value, not a REPLACE_… placeholder")
    if git("rev-parse", "--is-inside-work-tree", cwd=repo).returncode == 0:
        if git("ls-files", "--error-unmatch", rel, cwd=repo).returncode == 0:
            problems.append(f"{rel}: tracked by git (real secret values must never be committed)")
        if git("check-ignore", "-q", rel, cwd=repo).returncode != 0:
            problems.append(f"{rel}: not ignored by git")
    return problems


# Extraction for the config loader ---------------------------------------------------------


def extract(rendered: Path, out: Path) -> None:
    docs = load_all(rendered)
    cm = next(d for d in docs if d.get("kind") == "ConfigMap" and d["metadata"]["name"].startswith("switchboard-config"))
    (out / "switchboard.yaml").write_text(cm["data"]["switchboard.yaml"])
    lines = []
    for d in docs:
        if d.get("kind") == "Secret":
            for k, v in sorted((d.get("data") or {}).items()):
                lines.append(f"{k}={base64.b64decode(v).decode()}")
            for k, v in sorted((d.get("stringData") or {}).items()):
                lines.append(f"{k}={v}")
    (out / "secrets.env").write_text("".join(f"{line}\n" for line in lines))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    r = sub.add_parser("render")
    r.add_argument("name")
    r.add_argument("rendered", type=Path)
    r.add_argument("--external-secret", action="append", default=[])
    s = sub.add_parser("secrets")
    s.add_argument("deploy", type=Path)
    e = sub.add_parser("extract")
    e.add_argument("rendered", type=Path)
    e.add_argument("out", type=Path)
    args = parser.parse_args()

    if args.command == "render":
        problems = Checker(args.name, load_all(args.rendered), set(args.external_secret)).run()
    elif args.command == "secrets":
        problems = check_secrets(args.deploy.resolve())
    else:
        extract(args.rendered, args.out)
        return 0
    for p in problems:
        print(f"  {p}", file=sys.stderr)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
