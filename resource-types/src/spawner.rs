//! Starting children so that they die with the process, and only then.
//!
//! Every program a handler starts asks the kernel for SIGKILL when its parent goes
//! (PR_SET_PDEATHSIG). The kernel means the parent *thread*: the signal fires when the thread
//! that forked the child exits, even if the process lives on. tokio retires threads (a blocking
//! thread exits after 10 s idle, and `block_in_place` turns a worker into one), so a child forked
//! from whichever thread happened to run the handler was SIGKILLed some seconds after it started,
//! with nobody asking. Here every fork happens on one thread, started on first use, that never
//! exits: the signal fires when the process dies, and never before.
//!
//! ```text
//!  handler task ──(Command, runtime handle)──▶ spawner thread: enter the runtime, fork, exec
//!       ▲                                            │
//!       └──────────── tokio Child (reaped by the caller's runtime) ◀────┘
//! ```

use std::io;
use std::sync::Mutex;
use std::sync::OnceLock;
use std::sync::mpsc;

use tokio::process::{Child, Command};
use tokio::sync::oneshot;

// Tested where the bug showed: resource-types/tests/t10_process.rs
// (`i10_1_a_resource_outlives_the_thread_that_started_it`).

/// One request: a command to start, the runtime whose driver will reap the child, and where
/// the answer goes.
struct Job {
    cmd: Command,
    runtime: tokio::runtime::Handle,
    reply: oneshot::Sender<io::Result<Child>>,
}

/// The channel to the spawner thread, started on first use.
fn spawner() -> &'static Mutex<mpsc::Sender<Job>> {
    static SPAWNER: OnceLock<Mutex<mpsc::Sender<Job>>> = OnceLock::new();
    SPAWNER.get_or_init(|| {
        let (tx, rx) = mpsc::channel::<Job>();
        // The thread holds no lock and owns nothing but the receiver; it runs until the
        // process exits. If it cannot be started the process cannot start children at all,
        // and `spawn` says so on every call.
        let started = std::thread::Builder::new()
            .name("nonstop-spawner".into())
            .spawn(move || {
                for mut job in rx {
                    let started = {
                        let _runtime = job.runtime.enter();
                        job.cmd.spawn()
                    };
                    let _ = job.reply.send(started);
                }
            });
        if let Err(e) = started {
            tracing::error!("cannot start the spawner thread: {e}");
        }
        Mutex::new(tx)
    })
}

/// Starts `cmd` from the spawner thread, so that its parent-death signal is tied to the process
/// rather than to the calling thread. Must be called from within a tokio runtime (the child is
/// reaped by it, as with `Command::spawn`).
pub async fn spawn(cmd: Command) -> io::Result<Child> {
    let runtime = tokio::runtime::Handle::try_current()
        .map_err(|e| io::Error::other(format!("no tokio runtime to reap the child: {e}")))?;
    let (reply, answer) = oneshot::channel();
    let job = Job {
        cmd,
        runtime,
        reply,
    };
    let sent = spawner()
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .send(job);
    if sent.is_err() {
        return Err(io::Error::other("the spawner thread is gone"));
    }
    answer
        .await
        .map_err(|_| io::Error::other("the spawner thread dropped the request"))?
}
