//! Embeds the analyst console (`console/`: its page, scripts, styles and vendored chart
//! library) in the binary, so a gateway serves it offline with nothing beside it. Writes
//! `$OUT_DIR/console_files.rs`: every file as (path under `console/`, bytes), sorted by path;
//! the folder's README (notes for whoever works on the console) is not part of it.

use std::path::{Path, PathBuf};

fn files(dir: &Path, found: &mut Vec<PathBuf>) -> std::io::Result<()> {
    for entry in std::fs::read_dir(dir)? {
        let path = entry?.path();
        if path.is_dir() {
            files(&path, found)?;
        } else if path.file_name().is_some_and(|n| n != "README.md") {
            found.push(path);
        }
    }
    Ok(())
}

fn main() -> std::io::Result<()> {
    let root = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR").expect("set by cargo"));
    let console = root.join("console");
    // A directory makes cargo look at every file under it.
    println!("cargo:rerun-if-changed=console");
    let mut found = Vec::new();
    files(&console, &mut found)?;
    found.sort();
    let mut out = String::from("pub(crate) const FILES: &[(&str, &[u8])] = &[\n");
    for path in &found {
        let relative = path
            .strip_prefix(&console)
            .expect("under console/")
            .to_str()
            .expect("console file names are UTF-8")
            .replace('\\', "/");
        out.push_str(&format!(
            "    ({relative:?}, include_bytes!({:?})),\n",
            path.display().to_string()
        ));
    }
    out.push_str("];\n");
    let target = PathBuf::from(std::env::var("OUT_DIR").expect("set by cargo"));
    std::fs::write(target.join("console_files.rs"), out)
}
