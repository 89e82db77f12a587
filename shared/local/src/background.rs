//! The runtime the stack's background work runs on: workflow executions (and the runner
//! processes they start), the status consumer and the review sweep. In AWS that work is
//! Step Functions', Fargate's and other Lambdas'; on one machine it shares the cores with the
//! API, so its threads run at a lower CPU priority: under load, requests are answered first
//! and provisioning catches up, instead of every request waiting behind it.

use std::future::Future;

use tokio::runtime::{Handle, Runtime};
use tokio::task::JoinHandle;

use crate::DevError;

/// How much lower than the API the background threads run (a Unix nice increment: at 10 a
/// busy background thread gets about a tenth of the CPU a busy API thread gets, and all of
/// it when the API is idle).
const NICENESS: i32 = 10;

pub(crate) struct Background {
    handle: Handle,
    /// Taken only when dropped.
    runtime: Option<Runtime>,
}

impl Background {
    pub fn start() -> Result<Self, DevError> {
        let threads = std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(1);
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(threads)
            .thread_name("tre-background")
            .on_thread_start(lower_priority)
            .enable_all()
            .build()
            .map_err(|e| DevError::Workflows(format!("starting the background runtime: {e}")))?;
        Ok(Self {
            handle: runtime.handle().clone(),
            runtime: Some(runtime),
        })
    }

    pub fn handle(&self) -> Handle {
        self.handle.clone()
    }

    pub fn spawn<F>(&self, task: F) -> JoinHandle<()>
    where
        F: Future<Output = ()> + Send + 'static,
    {
        self.handle.spawn(task)
    }
}

impl Drop for Background {
    fn drop(&mut self) {
        // Not `drop`: that blocks, which a runtime refuses inside another runtime's task.
        if let Some(r) = self.runtime.take() {
            r.shutdown_background();
        }
    }
}

/// Lower the calling thread's priority (Linux gives each thread its own nice value; other
/// systems would lower the whole process, so they keep one priority).
fn lower_priority() {
    #[cfg(target_os = "linux")]
    {
        // SAFETY: setpriority only reads its arguments; `0` names the calling thread.
        let r = unsafe { libc::setpriority(libc::PRIO_PROCESS, 0, NICENESS) };
        if r != 0 {
            tracing::debug!(
                error = %std::io::Error::last_os_error(),
                "could not lower the background threads' priority"
            );
        }
    }
}
