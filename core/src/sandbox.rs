//! Sandbox: where one episode of a task runs. A fresh work directory per episode, presented
//! at the Harbor paths (`/app` the work dir, `/tests` the verifier, `/logs` its output) by
//! bubblewrap: no network, read-only system, writes only in `/app` and a private `/tmp`,
//! its own pid namespace so a killed command takes every child with it, output capped.
//!
//! The local sandbox interprets a Dockerfile subset (FROM is ignored; WORKDIR /app, COPY,
//! RUN, ENV) to build the initial `/app`. It never runs anything outside bubblewrap.

use crate::error::{Error, Result};
use crate::task::Task;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// Bytes of stdout (and, separately, stderr) kept from one command; the rest is counted and dropped.
pub const OUTPUT_CAP: usize = 1 << 20;

/// What one command did.
#[derive(Debug, Clone, Default, serde::Serialize, serde::Deserialize)]
pub struct ExecResult {
    /// Exit status; `None` when killed (timeout) or ended by a signal.
    pub exit_code: Option<i32>,
    pub stdout: String,
    pub stderr: String,
    pub timed_out: bool,
    /// Bytes the command wrote, before the cap.
    pub stdout_bytes: usize,
    pub stderr_bytes: usize,
    pub duration_ms: u64,
}

impl ExecResult {
    pub fn ok(&self) -> bool {
        self.exit_code == Some(0) && !self.timed_out
    }
}

/// A verifier's verdict.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct VerifierOutcome {
    pub reward: f64,
    pub output: String,
}

/// Path of the `bwrap` binary, or a clear error saying how to get it.
pub fn bwrap_path() -> Result<PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .map(|d| d.join("bwrap"))
        .find(|p| p.is_file())
        .ok_or_else(|| Error::Sandbox("bubblewrap (bwrap) is not installed: run `bash scripts/setup.sh` or `apt-get install bubblewrap`".into()))
}

pub struct Sandbox {
    root: tempfile::TempDir,
    bwrap: PathBuf,
    env: Vec<(String, String)>,
    tests: Option<PathBuf>,
}

impl Sandbox {
    /// An empty sandbox: `/app` is an empty directory.
    pub fn empty(base: &Path) -> Result<Sandbox> {
        std::fs::create_dir_all(base).map_err(|e| Error::io(base, e))?;
        let root = tempfile::Builder::new()
            .prefix("sbx-")
            .tempdir_in(base)
            .map_err(|e| Error::io(base, e))?;
        for d in ["app", "logs/verifier"] {
            let p = root.path().join(d);
            std::fs::create_dir_all(&p).map_err(|e| Error::io(&p, e))?;
        }
        Ok(Sandbox {
            root,
            bwrap: bwrap_path()?,
            env: Vec::new(),
            tests: None,
        })
    }

    /// A sandbox holding `task`'s initial `/app`, built from its `environment/`.
    pub fn for_task(task: &Task, base: &Path) -> Result<Sandbox> {
        let mut sb = Sandbox::empty(base)?;
        let env_dir = task.environment_dir();
        let dockerfile = env_dir.join("Dockerfile");
        if dockerfile.is_file() {
            let text =
                std::fs::read_to_string(&dockerfile).map_err(|e| Error::io(&dockerfile, e))?;
            sb.build(&dockerfile, &env_dir, &text)?;
        } else if env_dir.join("app").is_dir() {
            sb.copy_in(&env_dir.join("app"), "/app")?;
        }
        sb.tests = Some(task.tests_dir());
        Ok(sb)
    }

    /// Host path of the work directory (what the sandbox sees as `/app`).
    pub fn app_dir(&self) -> PathBuf {
        self.root.path().join("app")
    }

    fn build(&mut self, file: &Path, ctx: &Path, text: &str) -> Result<()> {
        let joined = text.replace("\\\n", " ");
        for (n, line) in joined.lines().enumerate() {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let at = |m: String| Error::Sandbox(format!("{} line {}: {m}", file.display(), n + 1));
            let (instr, rest) = line.split_once(char::is_whitespace).unwrap_or((line, ""));
            let rest = rest.trim();
            match instr.to_ascii_uppercase().as_str() {
                "FROM" => {}
                "WORKDIR" if rest == "/app" => {}
                "WORKDIR" => {
                    return Err(at(format!(
                        "WORKDIR {rest}: the local sandbox works in /app only"
                    )))
                }
                "COPY" => {
                    let parts: Vec<&str> = rest.split_whitespace().collect();
                    let [src, dst] = parts[..] else {
                        return Err(at("COPY takes exactly a source and a destination".into()));
                    };
                    let src_path = ctx.join(src.trim_end_matches('/'));
                    if !src_path.starts_with(ctx) || src.contains("..") {
                        return Err(at(format!(
                            "COPY source {src} is outside the build context"
                        )));
                    }
                    self.copy_in(&src_path, dst)
                        .map_err(|e| at(e.to_string()))?;
                }
                "RUN" => {
                    let r = self.exec(rest, Duration::from_secs(120))?;
                    if !r.ok() {
                        return Err(at(format!(
                            "RUN failed (exit {:?}): {}",
                            r.exit_code,
                            r.stderr.trim()
                        )));
                    }
                }
                "ENV" => {
                    let (k, v) = rest
                        .split_once('=')
                        .or_else(|| rest.split_once(' '))
                        .ok_or_else(|| at("ENV needs KEY=value".into()))?;
                    self.env
                        .push((k.trim().into(), v.trim().trim_matches('"').into()));
                }
                other => {
                    return Err(at(format!(
                        "{other} is not supported by the local sandbox (use the docker sandbox)"
                    )))
                }
            }
        }
        Ok(())
    }

    /// Copy a host file or directory to a path under `/app`.
    fn copy_in(&self, src: &Path, dst: &str) -> Result<()> {
        let rel = dst
            .strip_prefix("/app")
            .ok_or_else(|| Error::Sandbox(format!("destination {dst} is not under /app")))?;
        let target = self.app_dir().join(rel.trim_start_matches('/'));
        std::fs::create_dir_all(&target).map_err(|e| Error::io(&target, e))?;
        let from = if src.is_dir() {
            src.join(".")
        } else {
            src.to_path_buf()
        };
        let out = Command::new("cp")
            .arg("-a")
            .arg(&from)
            .arg(&target)
            .output()
            .map_err(|e| Error::io(src, e))?;
        if !out.status.success() {
            return Err(Error::Sandbox(format!(
                "copy {}: {}",
                src.display(),
                String::from_utf8_lossy(&out.stderr).trim()
            )));
        }
        Ok(())
    }

    fn command(&self, script: &str, args: &[&str], verifier: bool) -> Command {
        // `setpriv --pdeathsig KILL` makes bwrap itself die with the thread that started it,
        // so a killed selfharness leaves no sandbox behind (bwrap's own --die-with-parent then
        // takes everything inside with it).
        let mut c = if Path::new(SETPRIV).exists() {
            let mut c = Command::new(SETPRIV);
            c.args(["--pdeathsig", "KILL", "--"]).arg(&self.bwrap);
            c
        } else {
            Command::new(&self.bwrap)
        };
        c.args([
            "--unshare-all",
            "--die-with-parent",
            "--new-session",
            "--clearenv",
        ]);
        for d in ["/usr", "/bin", "/lib", "/lib64", "/lib32", "/sbin", "/etc"] {
            let p = Path::new(d);
            match std::fs::read_link(p) {
                Ok(target) => {
                    c.arg("--symlink").arg(target).arg(d);
                }
                Err(_) if p.is_dir() => {
                    c.args(["--ro-bind", d, d]);
                }
                Err(_) => {}
            }
        }
        c.arg("--bind").arg(self.app_dir()).arg("/app");
        if verifier {
            c.arg("--bind")
                .arg(self.root.path().join("logs"))
                .arg("/logs");
            if let Some(t) = &self.tests {
                c.arg("--ro-bind").arg(t).arg("/tests");
            }
        }
        c.args([
            "--dev", "/dev", "--proc", "/proc", "--tmpfs", "/tmp", "--chdir", "/app",
        ]);
        c.args([
            "--setenv",
            "PATH",
            "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
        ]);
        c.args([
            "--setenv", "HOME", "/tmp", "--setenv", "LANG", "C.UTF-8", "--setenv", "TERM", "dumb",
        ]);
        for (k, v) in &self.env {
            c.arg("--setenv").arg(k).arg(v);
        }
        c.args(["bash", "-c", script, "bash"]).args(args);
        c
    }

    /// Run a bash command in `/app`, killed with everything it started after `timeout`.
    pub fn exec(&self, script: &str, timeout: Duration) -> Result<ExecResult> {
        self.run(self.command(script, &[], false), None, timeout)
    }

    /// Write a file inside the sandbox (so the write is confined like any command).
    pub fn write_file(&self, path: &str, content: &str) -> Result<ExecResult> {
        let cmd = self.command(
            "mkdir -p -- \"$(dirname -- \"$1\")\" && cat > \"$1\"",
            &[path],
            false,
        );
        self.run(
            cmd,
            Some(content.as_bytes().to_vec()),
            Duration::from_secs(10),
        )
    }

    /// Read a file inside the sandbox.
    pub fn read_file(&self, path: &str) -> Result<ExecResult> {
        self.run(
            self.command("cat -- \"$1\"", &[path], false),
            None,
            Duration::from_secs(10),
        )
    }

    /// Run the task's verifier: stale rewards removed, `tests/` at `/tests`, `bash /tests/test.sh`
    /// from `/app`; the reward read from `/logs/verifier/reward.txt` or `reward.json`.
    pub fn run_verifier(&self, timeout: Duration) -> Result<VerifierOutcome> {
        let vdir = self.root.path().join("logs/verifier");
        for f in ["reward.txt", "reward.json"] {
            let _ = std::fs::remove_file(vdir.join(f));
        }
        let r = self.run(
            self.command("bash /tests/test.sh", &[], true),
            None,
            timeout,
        )?;
        let output = format!("{}{}", tail(&r.stdout, 2000), tail(&r.stderr, 2000));
        let reward = read_reward(&vdir).map_err(|m| {
            Error::Sandbox(format!(
                "verifier wrote no usable reward ({m}); exit {:?}, timed out {}: {}",
                r.exit_code,
                r.timed_out,
                output.trim()
            ))
        })?;
        Ok(VerifierOutcome { reward, output })
    }

    fn run(
        &self,
        mut cmd: Command,
        stdin: Option<Vec<u8>>,
        timeout: Duration,
    ) -> Result<ExecResult> {
        use std::os::unix::process::CommandExt;
        cmd.stdin(if stdin.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        });
        cmd.stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .process_group(0);
        let start = Instant::now();
        let mut child = cmd
            .spawn()
            .map_err(|e| Error::Sandbox(format!("cannot start bwrap: {e}")))?;
        if let (Some(data), Some(mut pipe)) = (stdin, child.stdin.take()) {
            std::thread::spawn(move || {
                let _ = pipe.write_all(&data);
            });
        }
        let out = capture(child.stdout.take().expect("piped"));
        let err = capture(child.stderr.take().expect("piped"));
        let mut timed_out = false;
        let mut nap = Duration::from_millis(1);
        let status = loop {
            if let Some(s) = child
                .try_wait()
                .map_err(|e| Error::Sandbox(format!("wait: {e}")))?
            {
                break s;
            }
            if start.elapsed() >= timeout {
                timed_out = true;
                kill_sandbox(&mut child);
                break child
                    .wait()
                    .map_err(|e| Error::Sandbox(format!("wait: {e}")))?;
            }
            std::thread::sleep(nap);
            nap = (nap * 2).min(Duration::from_millis(20));
        };
        // Output ends when the last process holding the pipes is gone; should one outlive the
        // sandbox, take what was read rather than wait for ever.
        let deadline = Instant::now() + PIPE_GRACE;
        let (stdout, stdout_bytes) = out
            .recv_timeout(deadline.saturating_duration_since(Instant::now()))
            .unwrap_or_default();
        let (stderr, stderr_bytes) = err
            .recv_timeout(deadline.saturating_duration_since(Instant::now()))
            .unwrap_or_default();
        Ok(ExecResult {
            exit_code: if timed_out { None } else { status.code() },
            stdout,
            stderr,
            timed_out,
            stdout_bytes,
            stderr_bytes,
            duration_ms: start.elapsed().as_millis() as u64,
        })
    }
}

/// How long output may keep flowing after the sandbox's main process ended.
const PIPE_GRACE: Duration = Duration::from_secs(5);
const SETPRIV: &str = "/usr/bin/setpriv";

/// Kill a sandbox: bwrap, and the pid-namespace init it forked (killing that init kills every
/// process in the namespace, even one that raced bwrap's own die-with-parent setup).
fn kill_sandbox(child: &mut std::process::Child) {
    let pid = child.id();
    let inner =
        std::fs::read_to_string(format!("/proc/{pid}/task/{pid}/children")).unwrap_or_default();
    let _ = child.kill();
    let pids: Vec<&str> = inner.split_whitespace().collect();
    if !pids.is_empty() {
        let _ = Command::new("kill")
            .arg("-KILL")
            .args(&pids)
            .stderr(Stdio::null())
            .status();
    }
}

fn capture(mut r: impl Read + Send + 'static) -> std::sync::mpsc::Receiver<(String, usize)> {
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let mut kept = Vec::new();
        let mut total = 0usize;
        let mut buf = [0u8; 16384];
        while let Ok(n) = r.read(&mut buf) {
            if n == 0 {
                break;
            }
            total += n;
            let room = OUTPUT_CAP.saturating_sub(kept.len());
            kept.extend_from_slice(&buf[..n.min(room)]);
        }
        let _ = tx.send((String::from_utf8_lossy(&kept).into_owned(), total));
    });
    rx
}

fn tail(s: &str, n: usize) -> &str {
    let mut start = s.len().saturating_sub(n);
    while !s.is_char_boundary(start) {
        start += 1;
    }
    &s[start..]
}

fn read_reward(dir: &Path) -> std::result::Result<f64, String> {
    if let Ok(t) = std::fs::read_to_string(dir.join("reward.txt")) {
        return t
            .trim()
            .parse::<f64>()
            .map_err(|_| format!("reward.txt holds {:?}, not a number", t.trim()));
    }
    let t = std::fs::read_to_string(dir.join("reward.json"))
        .map_err(|_| "neither reward.txt nor reward.json exists".to_string())?;
    let v: serde_json::Map<String, serde_json::Value> =
        serde_json::from_str(&t).map_err(|e| format!("reward.json: {e}"))?;
    let nums: Vec<f64> = v.values().filter_map(|x| x.as_f64()).collect();
    if nums.len() != v.len() || nums.is_empty() {
        return Err("reward.json must be a flat object of numbers".into());
    }
    Ok(v.get("reward")
        .and_then(|x| x.as_f64())
        .unwrap_or(nums.iter().sum::<f64>() / nums.len() as f64))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sb() -> (tempfile::TempDir, Sandbox) {
        let d = tempfile::tempdir().unwrap();
        let s = Sandbox::empty(d.path()).unwrap();
        (d, s)
    }

    #[test]
    fn writes_stay_inside_the_sandbox() {
        let (_d, s) = sb();
        let marker =
            std::env::temp_dir().join(format!("selfharness-escape-{}", std::process::id()));
        let r = s
            .exec(
                &format!(
                    "echo hi > /app/in.txt; echo x > {} ; touch /etc/owned; echo done",
                    marker.display()
                ),
                Duration::from_secs(10),
            )
            .unwrap();
        assert!(r.stdout.contains("done"));
        assert!(
            s.app_dir().join("in.txt").exists(),
            "the work dir is writable"
        );
        assert!(!marker.exists(), "a write outside /app reached the host");
        assert!(!Path::new("/etc/owned").exists(), "the system is read-only");
    }

    #[test]
    fn no_network_inside() {
        let (_d, s) = sb();
        let r = s.exec("cat /sys/class/net/*/operstate 2>/dev/null; ls /sys/class/net 2>/dev/null | grep -v '^lo$' | wc -l", Duration::from_secs(10)).unwrap();
        assert_eq!(
            r.stdout.lines().last().map(str::trim),
            Some("0"),
            "interfaces besides lo: {}",
            r.stdout
        );
    }

    #[test]
    fn timeout_kills_every_process_it_started() {
        let (_d, s) = sb();
        let r = s
            .exec(
                "(sleep 1.5; touch /app/late) & sleep 30",
                Duration::from_millis(300),
            )
            .unwrap();
        assert!(r.timed_out && r.exit_code.is_none());
        std::thread::sleep(Duration::from_millis(2000));
        assert!(
            !s.app_dir().join("late").exists(),
            "a background child outlived the timeout"
        );
    }

    #[test]
    fn output_is_capped_but_counted() {
        let (_d, s) = sb();
        let r = s
            .exec(
                "head -c 3000000 /dev/zero | tr '\\0' a",
                Duration::from_secs(10),
            )
            .unwrap();
        assert_eq!(r.stdout.len(), OUTPUT_CAP);
        assert_eq!(r.stdout_bytes, 3_000_000);
    }

    #[test]
    fn write_and_read_file_round_trip() {
        let (_d, s) = sb();
        assert!(s.write_file("/app/a/b/c.txt", "hello\n").unwrap().ok());
        assert_eq!(s.read_file("/app/a/b/c.txt").unwrap().stdout, "hello\n");
        assert!(!s.read_file("/app/none").unwrap().ok());
    }

    #[test]
    fn reward_parsing() {
        let d = tempfile::tempdir().unwrap();
        assert!(read_reward(d.path()).is_err());
        std::fs::write(d.path().join("reward.json"), r#"{"a": 1, "b": 0}"#).unwrap();
        assert_eq!(read_reward(d.path()).unwrap(), 0.5);
        std::fs::write(d.path().join("reward.txt"), "1\n").unwrap();
        assert_eq!(read_reward(d.path()).unwrap(), 1.0);
    }
}
