//! Runs a document's commands against the real binary (see `readme` for what it checks): the
//! document's files and `run_document`. Reading the Markdown and its shell commands is in `parse`;
//! the server a document starts and the shell session its commands run in, in `session`. Both are
//! re-exported here, so `use crate::doc_runner::*` brings everything.

mod parse;
mod session;

pub(crate) use parse::*;
pub(crate) use session::*;

use std::path::{Path, PathBuf};

/// The address the documents use.
pub(crate) const DOC_ADDR: &str = "127.0.0.1:8080";

/// The commands talk to the test's server directly, whatever proxy the environment names (curl
/// also ignores `~/.curlrc`: `-q`).
pub(crate) const LOCAL: [(&str, &str); 2] = [
    ("NO_PROXY", "127.0.0.1,localhost"),
    ("no_proxy", "127.0.0.1,localhost"),
];

/// A file of the repository, named from its root: its path and its text.
pub(crate) fn repo_file(name: &str) -> (PathBuf, String) {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .join(name);
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
    (path, text)
}

/// Runs a document: its shell commands (and Python examples), with the server it starts.
pub(crate) fn run_document(doc: &str, blocks: &[Block], python: bool) -> usize {
    let all: Vec<Step> = blocks
        .iter()
        .filter(|b| is_shell(&b.lang))
        .flat_map(steps)
        .collect();
    let launches: Vec<Launch> = all.iter().filter_map(launch).collect();
    assert_eq!(
        launches.len(),
        1,
        "{doc}: expected one command starting the server (`... serve &`), found {launches:?}"
    );
    let session = Session::new(doc, &all);
    let server = Server::start(&launches[0], session.dir.path(), &session.addr);
    let mut ran = 0;
    for block in blocks {
        if is_shell(&block.lang) {
            for step in steps(block) {
                if launch(&step).is_none() {
                    session.check(&step, &server);
                    ran += 1;
                }
            }
        } else if block.lang == "python" && python {
            session.python(block, &server);
            ran += 1;
        }
    }
    server.stop();
    ran
}
