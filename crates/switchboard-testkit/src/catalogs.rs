//! Catalogs for tests that need toolkits the starter catalog lacks.

use crate::toolkits_dir;

/// Extra toolkits for the schemes no starter toolkit has: BASIC, NO_AUTH, and OAuth only.
pub const EXTRA_TOOLKITS: [(&str, &str); 3] = [
    (
        "basicapp",
        "slug: basicapp\nname: Basic App\ndescription: a toolkit with basic auth\nbase_url: https://basic.example.com\nauth: {schemes: [BASIC]}\ntools:\n  - slug: BASICAPP_LIST_THINGS\n    name: List things\n    description: lists things\n    tags: [readOnlyHint]\n    input_schema: {type: object, properties: {}}\n    output_schema: {type: object}\n    http: {method: GET, path: /things}\n",
    ),
    (
        "publicapi",
        "slug: publicapi\nname: Public API\ndescription: a toolkit without auth\nbase_url: https://public.example.com\nauth: {schemes: [NO_AUTH]}\ntools:\n  - slug: PUBLICAPI_GET_FACT\n    name: Get a fact\n    description: returns a fact\n    tags: [readOnlyHint]\n    input_schema: {type: object, properties: {}}\n    output_schema: {type: object}\n    http: {method: GET, path: /fact}\n",
    ),
    (
        "oauthonly",
        "slug: oauthonly\nname: OAuth Only\ndescription: a toolkit that takes OAuth alone\nbase_url: https://oauth.example.com\nauth: {schemes: [OAUTH2], oauth2: {authorize_url: https://oauth.example.com/authorize, token_url: https://oauth.example.com/token}}\ntools:\n  - slug: OAUTHONLY_GET_ME\n    name: Get me\n    description: returns the user\n    tags: [readOnlyHint]\n    input_schema: {type: object, properties: {}}\n    output_schema: {type: object}\n    http: {method: GET, path: /me}\n",
    ),
];

/// The workspace catalog plus [`EXTRA_TOOLKITS`], in a temp dir.
pub fn catalog_with_extras() -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("temp catalog");
    for entry in std::fs::read_dir(toolkits_dir()).expect("temp catalog") {
        let path = entry.expect("temp catalog").path();
        if path.extension().is_some_and(|e| e == "yaml") {
            std::fs::copy(
                &path,
                dir.path().join(path.file_name().expect("temp catalog")),
            )
            .expect("temp catalog");
        }
    }
    for (slug, text) in EXTRA_TOOLKITS {
        std::fs::write(dir.path().join(format!("{slug}.yaml")), text).expect("temp catalog");
    }
    dir
}
