//! Passes the asock library's version (from its Cargo.toml in this workspace) to the command,
//! which records it in the benchmark's JSON.

fn main() {
    let manifest = "../asock/Cargo.toml";
    println!("cargo:rerun-if-changed={manifest}");
    let text = std::fs::read_to_string(manifest).unwrap_or_default();
    let version = text
        .lines()
        .skip_while(|l| l.trim() != "[package]")
        .skip(1)
        .take_while(|l| !l.trim_start().starts_with('['))
        .find_map(|l| {
            let (key, value) = l.split_once('=')?;
            (key.trim() == "version").then(|| value.trim().trim_matches('"').to_string())
        })
        .unwrap_or_else(|| "unknown".into());
    println!("cargo:rustc-env=ASOCK_VERSION={version}");
}
