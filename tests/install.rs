//! The deployment path end to end, with real processes: the `server` and
//! `agent` example binaries this test run built are packaged by
//! `scripts/package.sh` (as `make package-local` does), installed by
//! `scripts/install.sh` into a temporary directory, checked, and the
//! installed server is started on the configuration the installer wrote.
//!
//! Needs bash, tar, gzip and sha256sum; the download path also needs curl
//! (it is skipped, with a note, without it).

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use oxmon::{AgentConfig, ServerConfig};

mod support;
use support::{free_port, terminate};

const VERSION: &str = env!("CARGO_PKG_VERSION");

fn repo() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// target/<profile>/examples, where `cargo test` puts the example binaries.
fn examples_dir() -> PathBuf {
    // target/<profile>/deps/install-<hash> -> target/<profile>/examples
    let exe = std::env::current_exe().expect("test binary path");
    let dir = exe
        .parent()
        .and_then(Path::parent)
        .expect("target dir")
        .join("examples");
    for name in ["server", "agent"] {
        assert!(
            dir.join(name).exists(),
            "{} missing: run the whole `cargo test` (which builds the examples), \
             or `cargo build --examples` before `cargo test --test install`",
            dir.join(name).display()
        );
    }
    dir
}

/// The target triple install.sh detects on this machine.
fn host_target() -> String {
    let os = match std::env::consts::OS {
        "linux" => "unknown-linux-gnu",
        "macos" => "apple-darwin",
        other => panic!("no release target for {other}"),
    };
    format!("{}-{os}", std::env::consts::ARCH)
}

fn tarball_name() -> String {
    format!("oxmon-{VERSION}-{}.tar.gz", host_target())
}

fn bash(script: &str) -> Command {
    let mut c = Command::new("bash");
    c.arg(repo().join("scripts").join(script))
        .stdin(Stdio::null())
        .env_remove("OXMON_RELEASES_URL")
        .env_remove("OXMON_SYSTEMD_DIR");
    c
}

fn run(cmd: &mut Command) -> Output {
    cmd.output()
        .unwrap_or_else(|e| panic!("cannot run {cmd:?}: {e}"))
}

#[track_caller]
fn succeeds(cmd: &mut Command) -> String {
    let out = run(cmd);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "{cmd:?} failed ({}):\n{stderr}",
        out.status
    );
    String::from_utf8_lossy(&out.stdout).into_owned() + &stderr
}

#[track_caller]
fn fails(cmd: &mut Command, words: &[&str]) -> String {
    let out = run(cmd);
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(!out.status.success(), "{cmd:?} should fail:\n{stderr}");
    for w in words {
        assert!(stderr.contains(w), "`{w}` missing in:\n{stderr}");
    }
    stderr
}

/// One dist directory (tarball + SHA256SUMS) for every test of this run,
/// made by scripts/package.sh from the example binaries.
fn dist() -> &'static Path {
    static DIST: OnceLock<PathBuf> = OnceLock::new();
    DIST.get_or_init(|| {
        let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("install-test-dist");
        let _ = std::fs::remove_dir_all(&dir);
        let printed = succeeds(bash("package.sh").args([
            examples_dir().as_os_str(),
            host_target().as_ref(),
            dir.as_os_str(),
        ]));
        assert!(printed.contains(&tarball_name()), "{printed}");
        dir
    })
}

/// `install.sh <args>` installing into `root`/bin, `root`/etc (and `root`/data).
fn install(component: &str, root: &Path, extra: &[&str]) -> Command {
    let mut c = bash("install.sh");
    c.arg(component)
        .arg("--install-dir")
        .arg(root.join("bin"))
        .arg("--config-dir")
        .arg(root.join("etc"))
        .args(extra);
    if component == "server" {
        c.arg("--data-dir").arg(root.join("data"));
    }
    c
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// Lines that are not comments.
fn settings(toml: &str) -> Vec<&str> {
    toml.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .collect()
}

#[test]
fn the_package_holds_both_programs_their_configs_and_checksums() {
    let dist = dist();
    let out = succeeds(
        Command::new("tar")
            .arg("-tzf")
            .arg(dist.join(tarball_name())),
    );
    let top = tarball_name().trim_end_matches(".tar.gz").to_owned();
    for entry in [
        "oxmon-server",
        "oxmon-agent",
        "config/server.example.toml",
        "config/agent.example.toml",
        "deploy/systemd/oxmon-server.service",
        "deploy/systemd/oxmon-agent.service",
        "deploy/pm2/ecosystem.config.js",
        "README.md",
    ] {
        let path = format!("{top}/{entry}");
        assert!(out.lines().any(|l| l == path), "{path} not in:\n{out}");
    }
    // sha256sum's format, one line per tarball in dist/.
    let sums = read(&dist.join("SHA256SUMS"));
    let lines: Vec<&str> = sums.lines().collect();
    assert_eq!(lines.len(), 1, "{sums}");
    let (hash, name) = lines[0].split_once("  ").expect("`<hash>  <name>`");
    assert_eq!(name, tarball_name());
    assert!(
        hash.len() == 64 && hash.bytes().all(|b| b.is_ascii_hexdigit()),
        "{hash}"
    );
    succeeds(
        Command::new("sha256sum")
            .args(["--check", "--quiet", "SHA256SUMS"])
            .current_dir(dist),
    );
}

#[test]
fn installed_server_has_no_secrets_keeps_its_config_and_answers_health() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let root = tmp.path();
    let dist = dist().to_str().expect("utf-8 path");
    let said = succeeds(&mut install("server", root, &["--from-dir", dist]));
    assert!(said.contains("Checksum OK"), "{said}");

    let binary = root.join("bin/oxmon-server");
    assert!(binary.is_file(), "{said}");
    assert!(root.join("data").is_dir());
    assert!(root.join("etc/server.example.toml").is_file());
    let config_path = root.join("etc/server.toml");
    let text = read(&config_path);
    for key in ["jwt_secret", "default_password", "password", "token"] {
        assert!(
            !settings(&text).iter().any(|l| l.starts_with(key)),
            "`{key}` set in the generated config:\n{text}"
        );
    }
    let config = ServerConfig::load(&config_path).expect("the generated config loads");
    assert!(config.auth.jwt_secret.is_none() && config.auth.default_password.is_none());
    assert_eq!(config.data_dir, root.join("data"));
    assert!(config.require_agent_auth);

    // A second install keeps the operator's file as it is.
    let edited = text.replace("retention_days = 7", "retention_days = 30");
    std::fs::write(&config_path, &edited).expect("edit");
    let said = succeeds(&mut install("server", root, &["--from-dir", dist]));
    assert!(said.contains("Keeping the existing"), "{said}");
    assert_eq!(read(&config_path), edited);

    // --pm2-only: the process file, no download, nothing started.
    let said = succeeds(&mut install("server", root, &["--pm2-only"]));
    let pm2 = read(&root.join("etc/oxmon-server.pm2.config.js"));
    assert!(pm2.contains("name: \"oxmon-server\""), "{pm2}");
    assert!(
        pm2.contains(&format!("script: \"{}\"", binary.display())),
        "{pm2}"
    );
    assert!(
        pm2.contains(&format!("args: [\"{}\"]", config_path.display())),
        "{pm2}"
    );
    assert!(said.contains("pm2 start"), "{said}");

    // The installed binary on the generated config, on free ports, logging JSON.
    let (grpc, http) = (free_port(), free_port());
    let replaced = edited
        .replace("grpc_port = 9090", &format!("grpc_port = {grpc}"))
        .replace("http_port = 8080", &format!("http_port = {http}"))
        .replace("format = \"text\"", "format = \"json\"");
    assert_eq!(
        replaced.matches(&format!("= {grpc}\n")).count()
            + replaced.matches(&format!("= {http}\n")).count()
            + replaced.matches("\"json\"").count(),
        3,
        "the generated config changed shape:\n{edited}"
    );
    std::fs::write(&config_path, replaced).expect("ports");
    let log_path = root.join("server.log");
    let mut server = Command::new(&binary)
        .arg(&config_path)
        .current_dir(root)
        .env_remove("RUST_LOG")
        .env_remove("OXMON_ADMIN_PASSWORD")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&log_path).expect("log"))
        .spawn()
        .expect("start the installed server");
    let deadline = Instant::now() + Duration::from_secs(60);
    let body = loop {
        if let Some(response) = http_get(http, "/v1/health") {
            break response;
        }
        if let Ok(Some(status)) = server.try_wait() {
            panic!("server exited with {status}:\n{}", read(&log_path));
        }
        assert!(
            Instant::now() < deadline,
            "no answer on /v1/health:\n{}",
            read(&log_path)
        );
        std::thread::sleep(Duration::from_millis(100));
    };
    assert!(body.starts_with("HTTP/1.1 200"), "{body}");
    assert!(
        body.contains(&format!("\"version\":\"{VERSION}\"")),
        "{body}"
    );
    terminate(&mut server);

    let log = read(&log_path);
    assert!(
        log.contains("First start: created user `admin` with the password"),
        "{log}"
    );
    let json_lines = log
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter(|v| v.get("level").is_some() && v.get("timestamp").is_some())
        .count();
    assert!(
        json_lines > 0,
        "[log] format = \"json\" not applied:\n{log}"
    );
    let secret = root.join("data/jwt.secret");
    assert!(secret.is_file(), "the server generates its signing secret");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&secret)
            .expect("secret")
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
    }
}

#[test]
fn installed_agent_gets_its_id_and_endpoint_and_no_token() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let dist = dist().to_str().expect("utf-8 path");
    let root = tmp.path().join("a");
    succeeds(&mut install(
        "agent",
        &root,
        &[
            "--from-dir",
            dist,
            "--agent-id",
            "db-07",
            "--server-endpoint",
            "10.1.2.3:9191",
        ],
    ));
    assert!(root.join("bin/oxmon-agent").is_file());
    assert!(!root.join("bin/oxmon-server").exists());
    let config_path = root.join("etc/agent.toml");
    let text = read(&config_path);
    let config = AgentConfig::load(&config_path).expect("the generated config loads");
    assert_eq!(config.agent_id.as_deref(), Some("db-07"));
    assert_eq!(config.server_endpoint, "10.1.2.3:9191");
    assert!(config.auth_token.is_none(), "{text}");
    assert!(
        text.contains("# auth_token = \"\"") && text.contains("/v1/agents/whitelist"),
        "the config tells how to get a token:\n{text}"
    );
    assert!(text.contains("{\"agent_id\": \"db-07\"}"), "{text}");

    // Defaults: the host name, the local server.
    let root = tmp.path().join("b");
    succeeds(&mut install("agent", &root, &["--from-dir", dist]));
    let config = AgentConfig::load(root.join("etc/agent.toml")).expect("loads");
    assert_eq!(config.agent_id, oxmon::collector::host_name());
    assert_eq!(config.server_endpoint, "127.0.0.1:9090");

    // The installed agent runs.
    let out = succeeds(Command::new(root.join("bin/oxmon-agent")).arg("--help"));
    assert!(out.contains("usage: agent"), "{out}");
}

#[test]
fn a_corrupted_or_unlisted_tarball_is_refused() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let bad = tmp.path().join("dist");
    std::fs::create_dir(&bad).expect("mkdir");
    let mut bytes = std::fs::read(dist().join(tarball_name())).expect("tarball");
    let middle = bytes.len() / 2;
    bytes[middle] ^= 0xff;
    std::fs::write(bad.join(tarball_name()), bytes).expect("write");
    std::fs::copy(dist().join("SHA256SUMS"), bad.join("SHA256SUMS")).expect("sums");
    let bad_dir = bad.to_str().expect("utf-8 path");
    let root = tmp.path().join("root");
    fails(
        &mut install("server", &root, &["--from-dir", bad_dir]),
        &["checksum mismatch", &tarball_name(), "refusing"],
    );
    assert!(!root.join("bin").exists() && !root.join("etc").exists());

    std::fs::write(bad.join("SHA256SUMS"), "").expect("empty sums");
    fails(
        &mut install("agent", &root, &["--from-dir", bad_dir]),
        &["not listed"],
    );
    std::fs::remove_file(bad.join("SHA256SUMS")).expect("rm");
    fails(
        &mut install("agent", &root, &["--from-dir", bad_dir]),
        &["SHA256SUMS not found"],
    );
    assert!(!root.join("bin").exists());
}

/// The download path, against a release directory laid out like GitHub's
/// (`download/vX.Y.Z/...`) and reached through file:// URLs.
#[test]
fn the_download_path_verifies_the_checksum_too() {
    if run(Command::new("bash").args(["-c", "command -v curl"]))
        .status
        .code()
        != Some(0)
    {
        eprintln!("curl not installed: download path not tested");
        return;
    }
    let tmp = tempfile::tempdir().expect("tempdir");
    let releases = tmp.path().join("releases");
    let download = releases.join(format!("download/v{VERSION}"));
    std::fs::create_dir_all(&download).expect("mkdir");
    std::fs::copy(dist().join(tarball_name()), download.join(tarball_name())).expect("copy");
    std::fs::copy(dist().join("SHA256SUMS"), download.join("SHA256SUMS")).expect("copy");
    let url = format!("file://{}", releases.display());
    let root = tmp.path().join("root");
    let said = succeeds(
        install("agent", &root, &["--version", &format!("v{VERSION}")])
            .env("OXMON_RELEASES_URL", &url),
    );
    assert!(said.contains("Checksum OK"), "{said}");
    assert!(root.join("bin/oxmon-agent").is_file());

    std::fs::write(
        download.join("SHA256SUMS"),
        format!("{}  {}\n", "0".repeat(64), tarball_name()),
    )
    .expect("sums");
    let root = tmp.path().join("root2");
    fails(
        install("agent", &root, &["--version", VERSION]).env("OXMON_RELEASES_URL", &url),
        &["checksum mismatch"],
    );
    assert!(!root.join("bin").exists());
}

#[test]
fn bad_arguments_are_refused_before_anything_is_written() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let root = tmp.path();
    let dist = dist().to_str().expect("utf-8 path");
    fails(&mut bash("install.sh"), &["server or agent"]);
    fails(
        bash("install.sh").args(["server", "--frobnicate"]),
        &["unknown argument '--frobnicate'"],
    );
    fails(
        bash("install.sh").args(["agent", "--data-dir", "/x"]),
        &["server only"],
    );
    fails(
        bash("install.sh").args(["server", "--agent-id", "a"]),
        &["agent only"],
    );
    fails(
        &mut install(
            "agent",
            root,
            &["--from-dir", dist, "--server-endpoint", "10.0.0.1"],
        ),
        &["needs a port"],
    );
    fails(
        &mut install("agent", root, &["--from-dir", dist, "--agent-id", "a b"]),
        &["invalid agent id"],
    );
    fails(
        &mut install("server", root, &["--pm2-only"]),
        &["not found: install first"],
    );
    // Without pm2 on the PATH, --setup-pm2 says so.
    let path = "/usr/bin:/bin";
    let has_pm2 = run(Command::new("bash")
        .args(["-c", "command -v pm2"])
        .env("PATH", path))
    .status
    .success();
    if !has_pm2 {
        fails(
            install("server", root, &["--from-dir", dist, "--setup-pm2"]).env("PATH", path),
            &["pm2 not found"],
        );
    }
    assert!(!root.join("bin").exists() && !root.join("etc").exists());
}

/// The whole response to `GET path`, or `None` while nothing listens.
fn http_get(port: u16, path: &str) -> Option<String> {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).ok()?;
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .ok()?;
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n"
    )
    .ok()?;
    let mut response = String::new();
    stream.read_to_string(&mut response).ok()?;
    Some(response)
}
