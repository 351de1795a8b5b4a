//! `command("program args")` metrics: a long-lived child process speaking
//! JSON lines. Each call writes `{"pred": {..}, "gold": {..}}` and reads one
//! line back, `{"score": 0.5, "feedback": ".."}`.
//!
//! One process serves one call at a time; concurrent calls each take an
//! idle process or start a new one, so there are at most as many processes
//! as concurrent scorings (one per worker). Which process serves which
//! call depends on timing, so runs are reproducible only when the program
//! is a pure function of each line. A call that crashes the process (or
//! sees it exit), outlives the timeout, gets a malformed line or more than
//! one line fails (the caller scores 0 with the message as feedback) and
//! the process is killed; the next call starts a fresh one. The process's
//! stderr goes to the log (tracing target [`COMMAND_TARGET`], info level),
//! escaped, and each failed call is logged there at warn level; both name
//! the metric and the command.

use std::process::Stdio;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::process::{Child, ChildStdin, ChildStdout, Command};
use tokio::task::JoinHandle;

use super::Score;
use crate::ir::CommandMetric;
use crate::printable::escape_controls;
use crate::value::Record;

/// The tracing target of a metric command's stderr lines.
pub const COMMAND_TARGET: &str = "command";

/// The longest reply line read (a longer one is malformed).
const MAX_LINE: u64 = 1 << 20;

/// The longest stderr line kept from a metric program, in bytes.
const STDERR_LINE_MAX: usize = 8 * 1024;

/// What a process's first call may take beyond `timeout`: the program's
/// start-up (an interpreter and its imports), paid once per process.
const STARTUP_GRACE: Duration = Duration::from_secs(10);

/// How long a crashed process's stderr is waited for, to quote its last line.
const STDERR_GRACE: Duration = Duration::from_millis(500);

/// What a command metric did over a run.
#[derive(Debug, Default)]
pub struct CommandStats {
    calls: AtomicU64,
    failures: AtomicU64,
    starts: AtomicU64,
}

impl CommandStats {
    /// Calls made (answered or failed).
    pub fn calls(&self) -> u64 {
        self.calls.load(Ordering::Relaxed)
    }
    /// Calls that failed: crash, timeout, malformed reply, or no process.
    pub fn failures(&self) -> u64 {
        self.failures.load(Ordering::Relaxed)
    }
    /// Processes started (the first of each worker, then every restart).
    pub fn starts(&self) -> u64 {
        self.starts.load(Ordering::Relaxed)
    }
}

/// One running process.
struct Worker {
    child: Child,
    /// The process group spawn() made the program lead, killed as a whole
    /// when the worker goes (see the Drop impl).
    group: libc::pid_t,
    stdin: ChildStdin,
    stdout: BufReader<ChildStdout>,
    last_stderr: Arc<Mutex<String>>,
    stderr_task: JoinHandle<()>,
    /// Whether it has answered a call (so it has started).
    answered: bool,
}

impl Drop for Worker {
    /// Kills the program's whole process group: a child it forked (one that
    /// keeps its stdout open, or a daemon) goes with it instead of outliving
    /// the run. The id stays the group's while any member lives; once all
    /// have exited it could name another group only if process ids wrapped
    /// around in the moment between their exit and this drop.
    fn drop(&mut self) {
        if self.group > 0 {
            // SAFETY: killpg takes plain integers and touches no memory.
            unsafe {
                libc::killpg(self.group, libc::SIGKILL);
            }
        }
    }
}

/// A `command` metric: its processes and counters.
pub struct CommandScorer {
    /// The metric's name in the spec, for log lines.
    metric: String,
    spec: CommandMetric,
    idle: Mutex<Vec<Worker>>,
    stats: Arc<CommandStats>,
}

impl CommandScorer {
    /// A scorer for metric `metric` computed by `spec`; no process starts
    /// before the first call.
    pub fn new(metric: &str, spec: CommandMetric) -> Self {
        Self {
            metric: metric.to_string(),
            spec,
            idle: Mutex::new(Vec::new()),
            stats: Arc::default(),
        }
    }

    /// The counters.
    pub fn stats(&self) -> &CommandStats {
        &self.stats
    }

    /// `python3 score.py`, as the spec wrote it.
    pub fn command(&self) -> &str {
        &self.spec.command
    }

    /// Scores one prediction; `Err` names the program and says what failed.
    pub async fn score(&self, gold: &Record, pred: &Record) -> Result<Score, String> {
        self.stats.calls.fetch_add(1, Ordering::Relaxed);
        let result = self
            .call(gold, pred)
            .await
            .and_then(|s| match self.spec.range {
                // Checked here too (not only by the metric layer) so it is
                // worded and counted like every other failed call.
                _ if !super::code_score_fits(s.value) => Err(format!(
                    "the score {:e} is not a number within ±1e12",
                    s.value
                )),
                Some(r) if !r.contains(s.value) => Err(format!(
                    "the score {} is outside the metric's declared range {r}",
                    s.value
                )),
                _ => Ok(s),
            });
        result.map_err(|e| {
            self.stats.failures.fetch_add(1, Ordering::Relaxed);
            tracing::warn!(
                target: COMMAND_TARGET,
                metric = %self.metric,
                command = %self.spec.command,
                "failed call: {e}"
            );
            format!("metric command `{}`: {e}", self.spec.command)
        })
    }

    async fn call(&self, gold: &Record, pred: &Record) -> Result<Score, String> {
        let idle = self.idle.lock().unwrap_or_else(|p| p.into_inner()).pop();
        let mut worker = match idle {
            Some(mut w) => {
                // Output waiting before the request is written is left over
                // from the last reply: a second line for the same request.
                if unread_output(&w.stdout) {
                    let _ = w.child.start_kill();
                    return Err(format!("{EXTRA_LINE}; the process was restarted"));
                }
                w
            }
            None => self.spawn()?,
        };
        // A fresh process's first call also waits for the program to start
        // (Python's imports), which `timeout` is not meant to bound.
        let (limit, startup) = if worker.answered {
            (self.spec.timeout, String::new())
        } else {
            (
                self.spec.timeout + STARTUP_GRACE,
                format!(" plus {STARTUP_GRACE:?} for the program to start"),
            )
        };
        let line = serde_json::json!({ "pred": pred, "gold": gold }).to_string() + "\n";
        match tokio::time::timeout(limit, exchange(&mut worker, &line)).await {
            Ok(Ok(score)) => {
                worker.answered = true;
                self.idle
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .push(worker);
                Ok(score)
            }
            Ok(Err(Failure::Malformed(why))) => {
                let _ = worker.child.start_kill();
                Err(format!("{why}; the process was restarted"))
            }
            Ok(Err(Failure::Gone)) => Err(crashed(worker, None).await),
            Ok(Err(Failure::Exited(status))) => Err(crashed(worker, Some(status)).await),
            Err(_) => {
                let _ = worker.child.start_kill();
                Err(format!(
                    "no answer within {:?} (the timeout){startup}; the process was killed and restarted",
                    self.spec.timeout
                ))
            }
        }
    }

    fn spawn(&self) -> Result<Worker, String> {
        let (program, args) = self
            .spec
            .argv
            .split_first()
            .ok_or("the command line is empty")?;
        let mut child = Command::new(program)
            .args(args)
            .current_dir(&self.spec.dir)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            // Python buffers a pipe's output in blocks: a script that
            // forgets `flush=True` would never answer and time out.
            .env("PYTHONUNBUFFERED", "1")
            // Its own process group, so whatever it forks is killed with it.
            .process_group(0)
            .spawn()
            .map_err(|e| {
                format!(
                    "cannot start `{program}` in {}: {e}",
                    self.spec.dir.display()
                )
            })?;
        self.stats.starts.fetch_add(1, Ordering::Relaxed);
        let stdin = child.stdin.take().ok_or("no stdin pipe")?;
        let stdout = BufReader::new(child.stdout.take().ok_or("no stdout pipe")?);
        let stderr = child.stderr.take().ok_or("no stderr pipe")?;
        let last_stderr = Arc::new(Mutex::new(String::new()));
        let stderr_task = tokio::spawn(forward_stderr(
            stderr,
            Names {
                metric: self.metric.clone(),
                command: self.spec.command.clone(),
            },
            last_stderr.clone(),
        ));
        let group = child.id().map_or(0, |pid| pid as libc::pid_t);
        Ok(Worker {
            child,
            group,
            stdin,
            stdout,
            last_stderr,
            stderr_task,
            answered: false,
        })
    }
}

/// Why an exchange failed.
enum Failure {
    /// The process closed its output (it exited or crashed).
    Gone,
    /// The process exited while its output stayed open (a child it forked
    /// holds it).
    Exited(std::process::ExitStatus),
    /// It answered something that is not one score line.
    Malformed(String),
}

/// The message of a reply with more lines than requests.
const EXTRA_LINE: &str = "the program answered more than one line for one request \
     (it must answer exactly one line per request)";

async fn exchange(worker: &mut Worker, line: &str) -> Result<Score, Failure> {
    if worker.stdin.write_all(line.as_bytes()).await.is_err() || worker.stdin.flush().await.is_err()
    {
        return Err(Failure::Gone);
    }
    let mut reply = String::new();
    let mut limited = (&mut worker.stdout).take(MAX_LINE);
    let read = tokio::select! {
        // A reply that arrived with the exit still counts.
        biased;
        read = limited.read_line(&mut reply) => read,
        status = worker.child.wait() => {
            return Err(match status {
                Ok(status) => Failure::Exited(status),
                Err(_) => Failure::Gone,
            });
        }
    };
    let read = read.map_err(|e| Failure::Malformed(format!("the reply is not UTF-8 text: {e}")))?;
    if read == 0 {
        return Err(Failure::Gone);
    }
    let score = parse_reply(&reply).map_err(Failure::Malformed)?;
    // One request, one line: more bytes already here are a second answer,
    // which the next request would otherwise take for its own.
    if unread_output(&worker.stdout) {
        return Err(Failure::Malformed(EXTRA_LINE.into()));
    }
    Ok(score)
}

/// Whether the program has written output not yet taken as a reply: in
/// the reader's buffer, or waiting in the pipe (asked of the kernel, so the
/// answer does not depend on when the runtime last polled the pipe).
fn unread_output(stdout: &BufReader<ChildStdout>) -> bool {
    use std::os::fd::AsRawFd;
    if !stdout.buffer().is_empty() {
        return true;
    }
    let mut waiting: libc::c_int = 0;
    // SAFETY: FIONREAD writes one c_int through the pointer, which points
    // at a live local; the descriptor is the open pipe `stdout` owns.
    let ok = unsafe { libc::ioctl(stdout.get_ref().as_raw_fd(), libc::FIONREAD, &mut waiting) };
    ok == 0 && waiting > 0
}

/// One reply line as a score.
pub(crate) fn parse_reply(line: &str) -> Result<Score, String> {
    #[derive(serde::Deserialize)]
    struct Reply {
        score: f64,
        #[serde(default)]
        feedback: Option<String>,
    }
    let shown = || {
        let t = line.trim_end();
        let cut: String = t.chars().take(120).collect();
        let more = if cut.len() < t.len() { "..." } else { "" };
        escape_controls(&cut).into_owned() + more
    };
    if !line.ends_with('\n') {
        return Err(format!(
            "the reply line `{}` is too long or unterminated",
            shown()
        ));
    }
    // serde reads a struct from a JSON array too (`[0.5, "x"]`); only the
    // documented object is a reply.
    if !line.trim_start().starts_with('{') {
        return Err(format!(
            "malformed reply line `{}` (not a JSON object); expected {{\"score\": <number>, \"feedback\": \"..\"}}",
            shown()
        ));
    }
    let reply: Reply = serde_json::from_str(line).map_err(|e| {
        format!(
            "malformed reply line `{}` ({e}); expected {{\"score\": <number>, \"feedback\": \"..\"}}",
            shown()
        )
    })?;
    if !reply.score.is_finite() {
        return Err(format!("the score in `{}` is not a finite number", shown()));
    }
    Ok(Score {
        value: reply.score,
        feedback: reply.feedback,
    })
}

/// The message for a process that went away mid-call, with its exit status
/// (`exited`: already known) and last stderr line. Dropping the worker then
/// kills its process group, so a child holding the output open goes too.
async fn crashed(mut worker: Worker, exited: Option<std::process::ExitStatus>) -> String {
    let status = match exited {
        Some(s) => Ok(Ok(s)),
        None => tokio::time::timeout(STDERR_GRACE, worker.child.wait()).await,
    };
    let status = match status {
        Ok(Ok(s)) => s.to_string(),
        _ => {
            let _ = worker.child.start_kill();
            "closed its output".to_string()
        }
    };
    let _ = tokio::time::timeout(STDERR_GRACE, &mut worker.stderr_task).await;
    let last = worker
        .last_stderr
        .lock()
        .map(|l| l.clone())
        .unwrap_or_default();
    let tail = if last.is_empty() {
        String::new()
    } else {
        format!("; last stderr line: {last}")
    };
    format!("the process stopped without answering ({status}){tail}; the process was restarted")
}

/// Which metric and program a log line comes from.
struct Names {
    metric: String,
    command: String,
}

/// Every stderr line to the log; the last one kept for crash messages.
async fn forward_stderr<R: tokio::io::AsyncRead + Unpin>(
    stderr: R,
    names: Names,
    last: Arc<Mutex<String>>,
) {
    let mut reader = BufReader::new(stderr);
    let mut line: Vec<u8> = Vec::new();
    let mut cut = 0usize;
    loop {
        let buf = match reader.fill_buf().await {
            Ok(b) if !b.is_empty() => b,
            _ => break,
        };
        let newline = buf.iter().position(|&b| b == b'\n');
        let chunk = &buf[..newline.unwrap_or(buf.len())];
        // Only the first STDERR_LINE_MAX bytes of a line are kept: a script
        // writing without newlines must not grow this process's memory.
        let room = STDERR_LINE_MAX.saturating_sub(line.len());
        line.extend_from_slice(&chunk[..chunk.len().min(room)]);
        cut += chunk.len().saturating_sub(room);
        let used = newline.map_or(buf.len(), |i| i + 1);
        reader.consume(used);
        if newline.is_some() {
            log_stderr_line(&line, cut, &names, &last);
            line.clear();
            cut = 0;
        }
    }
    if !line.is_empty() || cut > 0 {
        log_stderr_line(&line, cut, &names, &last);
    }
}

/// One line of a metric program's stderr to the log, escaped, with how much
/// of it was cut; the last one is kept for a failed call's message.
fn log_stderr_line(bytes: &[u8], cut: usize, names: &Names, last: &Mutex<String>) {
    let text = String::from_utf8_lossy(bytes);
    let mut line = escape_controls(text.trim_end_matches('\r')).into_owned();
    if cut > 0 {
        line.push_str(&format!(" [.. {cut} more bytes]"));
    }
    tracing::info!(
        target: COMMAND_TARGET,
        metric = %names.metric,
        command = %names.command,
        "{line}"
    );
    if let Ok(mut l) = last.lock() {
        *l = line;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names() -> Names {
        Names {
            metric: "m".into(),
            command: "p".into(),
        }
    }

    #[test]
    fn a_stderr_line_without_end_is_kept_to_its_first_bytes() {
        let rt = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        let last = Arc::new(Mutex::new(String::new()));
        let mut input = vec![b'x'; 3 << 20];
        input.extend_from_slice(b"\nnext\r\n");
        input.extend_from_slice(&vec![b'y'; 100_000]);
        rt.block_on(forward_stderr(&input[..], names(), last.clone()));
        let kept = last.lock().unwrap().clone();
        assert_eq!(
            kept,
            format!("{} [.. {} more bytes]", "y".repeat(8192), 100_000 - 8192)
        );
        let last2 = Arc::new(Mutex::new(String::new()));
        rt.block_on(forward_stderr(&b"a\r\nb\n"[..], names(), last2.clone()));
        assert_eq!(*last2.lock().unwrap(), "b");
    }

    #[test]
    fn a_reply_line_gives_score_and_feedback() {
        let s = parse_reply("{\"score\": 0.5, \"feedback\": \"close\"}\n").unwrap();
        assert_eq!(s.value, 0.5);
        assert_eq!(s.feedback.as_deref(), Some("close"));
        let s = parse_reply("{\"score\": 1}\n").unwrap();
        assert_eq!((s.value, s.feedback), (1.0, None));
    }

    #[test]
    fn a_malformed_line_is_quoted_escaped() {
        let e = parse_reply("oops \u{1b}[2J\n").unwrap_err();
        assert!(
            e.starts_with("malformed reply line `oops \\u{1b}[2J`"),
            "{e}"
        );
        let e = parse_reply("{\"feedback\": \"x\"}\n").unwrap_err();
        assert!(e.contains("missing field `score`"), "{e}");
        // Before, serde took the array for the struct: score 0.25.
        for line in ["[0.25, \"array feedback\"]\n", "[1]\n"] {
            let e = parse_reply(line).unwrap_err();
            assert!(e.contains("not a JSON object"), "{e}");
        }
    }
}
