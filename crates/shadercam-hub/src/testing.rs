//! A local stand-in for the Hugging Face Hub and download.pytorch.org, for offline tests: a
//! plain HTTP/1.1 server on 127.0.0.1 (std `TcpListener`, one thread per connection) that
//! answers in the hub's URL layout, so `HF_ENDPOINT=<server.url>` points a client at it.
//!
//! - `HEAD|GET /{repo}/resolve/main/{file}`: an LFS file gets `302` to `/cdn/{sha256}` with
//!   `X-Repo-Commit`, `X-Linked-Etag: "<sha256>"` and `X-Linked-Size` (as the hub answers for
//!   LFS files); a small file gets `200` with `ETag: "<git blob sha1>"`. Unknown files get `404`
//!   with `X-Error-Code: EntryNotFound` (or `RepoNotFound`).
//! - `GET /cdn/{sha256}` and any path added with [`TestServer::add_file`] serve the bytes,
//!   honouring `Range: bytes=N-` with `206`.
//!
//! Faults to test against: [`TestServer::corrupt`] (bytes that do not match the etag),
//! [`TestServer::cut_next`] (the next body stops after N bytes), [`TestServer::silent`]
//! (connections are accepted and never answered). Every request is logged
//! ([`TestServer::requests`]). The server stops when dropped.

use sha1::Sha1;
use sha2::{Digest, Sha256};
use std::collections::{HashMap, HashSet};
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

/// The commit every repository of the test server is at.
pub const COMMIT: &str = "0123456789abcdef0123456789abcdef01234567";

/// Hex sha256 of `bytes`.
pub fn sha256_hex(bytes: &[u8]) -> String {
    Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// git's blob hash of `bytes` (what the hub sends as the etag of a non-LFS file).
pub fn git_sha1_hex(bytes: &[u8]) -> String {
    let mut h = Sha1::new();
    h.update(format!("blob {}\0", bytes.len()).as_bytes());
    h.update(bytes);
    h.finalize().iter().map(|b| format!("{b:02x}")).collect()
}

#[derive(Default)]
struct State {
    /// `{repo}/{file}` -> (bytes, stored in LFS).
    hub: HashMap<String, (Vec<u8>, bool)>,
    /// Plain paths (`/cdn/<sha>`, `/models/<file>`) -> bytes.
    raw: HashMap<String, Vec<u8>>,
    corrupt: HashSet<String>,
    cut: HashMap<String, usize>,
    silent: bool,
    requests: Vec<String>,
}

/// The server; see the module docs.
pub struct TestServer {
    /// `http://127.0.0.1:<port>`.
    pub url: String,
    state: Arc<Mutex<State>>,
    stop: Arc<AtomicBool>,
    accept: Option<JoinHandle<()>>,
    addr: std::net::SocketAddr,
}

impl TestServer {
    /// Starts a server on a free port of 127.0.0.1.
    pub fn start() -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1");
        let addr = listener.local_addr().expect("local address");
        let state = Arc::new(Mutex::new(State::default()));
        let stop = Arc::new(AtomicBool::new(false));
        let (st, sp) = (state.clone(), stop.clone());
        let base = format!("http://{addr}");
        let accept = std::thread::spawn(move || {
            for conn in listener.incoming() {
                if sp.load(Ordering::SeqCst) {
                    break;
                }
                let Ok(conn) = conn else { continue };
                let (st, sp, base) = (st.clone(), sp.clone(), base.clone());
                std::thread::spawn(move || handle(conn, &st, &sp, &base));
            }
        });
        Self {
            url: format!("http://{addr}"),
            state,
            stop,
            accept: Some(accept),
            addr,
        }
    }

    /// Serves `bytes` as `{repo}/{file}` on the hub, as an LFS file (redirect to the CDN, etag
    /// sha256) or a git file (etag git sha1).
    pub fn add_hub_file(&self, repo: &str, file: &str, bytes: &[u8], lfs: bool) {
        let mut s = self.state.lock().unwrap();
        if lfs {
            s.raw
                .insert(format!("/cdn/{}", sha256_hex(bytes)), bytes.to_vec());
        }
        s.hub
            .insert(format!("{repo}/{file}"), (bytes.to_vec(), lfs));
    }

    /// Serves `bytes` at the plain path `path` (e.g. `/models/resnet18-1234abcd.pth`).
    pub fn add_file(&self, path: &str, bytes: &[u8]) {
        self.state
            .lock()
            .unwrap()
            .raw
            .insert(path.to_owned(), bytes.to_vec());
    }

    /// From now on the body at `path` (`/cdn/<sha>`, `/models/...`, or `/{repo}/resolve/main/{file}`
    /// for a git file) has one byte flipped, so it no longer matches its etag or name.
    pub fn corrupt(&self, path: &str) {
        self.state.lock().unwrap().corrupt.insert(path.to_owned());
    }

    /// The next body sent for `path` announces its full length but stops after `bytes` bytes
    /// and closes the connection: an interrupted download.
    pub fn cut_next(&self, path: &str, bytes: usize) {
        self.state
            .lock()
            .unwrap()
            .cut
            .insert(path.to_owned(), bytes);
    }

    /// Accept connections and never answer (a hung server).
    pub fn silent(&self, on: bool) {
        self.state.lock().unwrap().silent = on;
    }

    /// Every request so far: `"HEAD /timm/x/resolve/main/model.safetensors"`, with
    /// `" range=bytes=N-"` appended when there was a Range header.
    pub fn requests(&self) -> Vec<String> {
        self.state.lock().unwrap().requests.clone()
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        // Wake the accept loop so it sees the flag.
        let _ = TcpStream::connect_timeout(&self.addr, Duration::from_secs(1));
        if let Some(t) = self.accept.take() {
            let _ = t.join();
        }
    }
}

fn handle(mut conn: TcpStream, state: &Mutex<State>, stop: &AtomicBool, base: &str) {
    let _ = conn.set_read_timeout(Some(Duration::from_secs(5)));
    let mut head = Vec::new();
    let mut buf = [0u8; 4096];
    while !head.windows(4).any(|w| w == b"\r\n\r\n") {
        match conn.read(&mut buf) {
            Ok(0) | Err(_) => return,
            Ok(n) => head.extend_from_slice(&buf[..n]),
        }
        if head.len() > 65536 {
            return;
        }
    }
    let text = String::from_utf8_lossy(&head).into_owned();
    let mut lines = text.split("\r\n");
    let mut first = lines.next().unwrap_or("").split(' ');
    let method = first.next().unwrap_or("").to_owned();
    let path = first.next().unwrap_or("").to_owned();
    let range = lines
        .filter_map(|l| l.split_once(':'))
        .find(|(k, _)| k.trim().eq_ignore_ascii_case("range"))
        .map(|(_, v)| v.trim().to_owned());
    let silent = {
        let mut s = state.lock().unwrap();
        let mut entry = format!("{method} {path}");
        if let Some(r) = &range {
            entry.push_str(&format!(" range={r}"));
        }
        s.requests.push(entry);
        s.silent
    };
    if silent {
        // Hold the connection open, unanswered, until the server stops.
        while !stop.load(Ordering::SeqCst) {
            std::thread::sleep(Duration::from_millis(50));
        }
        return;
    }
    let (status, headers, body, cut) = route(state, base, &path, range.as_deref());
    let reason = match status {
        200 => "OK",
        206 => "Partial Content",
        302 => "Found",
        404 => "Not Found",
        416 => "Range Not Satisfiable",
        _ => "Status",
    };
    let mut out = format!("HTTP/1.1 {status} {reason}\r\nConnection: close\r\n");
    for (k, v) in &headers {
        out.push_str(&format!("{k}: {v}\r\n"));
    }
    out.push_str(&format!("Content-Length: {}\r\n\r\n", body.len()));
    let _ = conn.write_all(out.as_bytes());
    if method != "HEAD" {
        let n = cut.unwrap_or(body.len()).min(body.len());
        let _ = conn.write_all(&body[..n]);
    }
    let _ = conn.flush();
}

type Reply = (u16, Vec<(String, String)>, Vec<u8>, Option<usize>);

fn route(state: &Mutex<State>, base: &str, path: &str, range: Option<&str>) -> Reply {
    let mut s = state.lock().unwrap();
    if let Some((repo, file)) = path
        .strip_prefix('/')
        .and_then(|p| p.split_once("/resolve/main/"))
    {
        let key = format!("{repo}/{file}");
        let Some((bytes, lfs)) = s.hub.get(&key).cloned() else {
            let known = s.hub.keys().any(|k| k.starts_with(&format!("{repo}/")));
            let mut h = vec![(
                "X-Error-Code".to_owned(),
                if known {
                    "EntryNotFound"
                } else {
                    "RepoNotFound"
                }
                .to_owned(),
            )];
            if known {
                h.push(("X-Repo-Commit".into(), COMMIT.into()));
            }
            return (404, h, b"Entry not found".to_vec(), None);
        };
        let mut h = vec![("X-Repo-Commit".to_owned(), COMMIT.to_owned())];
        if lfs {
            let sha = sha256_hex(&bytes);
            // An absolute URL, as the hub's redirect to its CDN is.
            h.push(("Location".into(), format!("{base}/cdn/{sha}")));
            h.push(("X-Linked-Etag".into(), format!("\"{sha}\"")));
            h.push(("X-Linked-Size".into(), bytes.len().to_string()));
            h.push(("ETag".into(), format!("\"{}\"", git_sha1_hex(b"pointer"))));
            return (302, h, Vec::new(), None);
        }
        h.push(("ETag".into(), format!("\"{}\"", git_sha1_hex(&bytes))));
        let bytes = body_of(&mut s, path, bytes);
        let cut = s.cut.remove(path);
        return (200, h, bytes, cut);
    }
    let Some(bytes) = s.raw.get(path).cloned() else {
        return (404, Vec::new(), b"Not found".to_vec(), None);
    };
    let bytes = body_of(&mut s, path, bytes);
    let cut = s.cut.remove(path);
    let start = range
        .and_then(|r| r.strip_prefix("bytes="))
        .and_then(|r| r.strip_suffix('-'))
        .and_then(|n| n.parse::<usize>().ok());
    match start {
        Some(n) if n >= bytes.len() => (416, Vec::new(), Vec::new(), None),
        Some(n) => {
            let h = vec![(
                "Content-Range".to_owned(),
                format!("bytes {n}-{}/{}", bytes.len() - 1, bytes.len()),
            )];
            (206, h, bytes[n..].to_vec(), cut)
        }
        None => (200, Vec::new(), bytes, cut),
    }
}

/// `bytes`, with one byte flipped if `path` is marked corrupt.
fn body_of(s: &mut State, path: &str, mut bytes: Vec<u8>) -> Vec<u8> {
    if s.corrupt.contains(path)
        && let Some(b) = bytes.get_mut(0)
    {
        *b ^= 0xff;
    }
    bytes
}
