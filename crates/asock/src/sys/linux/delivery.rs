//! The per-socket delivery protocol of the Linux backends (epoll and io_uring), written once:
//! who delivers a socket's completions, and how a close proceeds.
//!
//! # State (inside the socket's mutex)
//! * `state`: the lifecycle ([`SocketState`]);
//! * `done`: completions ready to be delivered, in the order they were produced;
//! * `runner`: the thread delivering them (0 for none). Exactly one thread delivers at a time,
//!   with the mutex released around each callback, so a socket's callbacks never overlap and
//!   run in order;
//! * `queued`: the socket is scheduled on the engine and not yet run;
//! * `abandoned`: during CLOSING, every pending operation has been moved into `done` (for
//!   io_uring: only once the kernel has given every buffer back);
//! * `waiters`: threads blocked on the socket's condition variable, so that waking them is a
//!   system call only when someone waits.
//!
//! # Close, as a sequence of [`CloseStep`]s
//! OPEN: begin (the backend cancels and abandons). CLOSING and this thread is the runner: a
//! close from inside a completion returns (the close in progress finishes once it returns), or,
//! when this call began the close, delivers the rest itself. Nothing left to deliver: finish.
//! No runner and the caller is a worker of the socket's engine: deliver here (a task for the
//! socket may be queued behind the caller on this very thread). No runner: schedule the socket
//! once, then wait. After CLOSING ends, a close still waits until no completion of the socket is
//! running, so that when any close returns none is.

use std::collections::VecDeque;

use crate::core::ops::{Completion, NotifyOp, RecvOp, SendOp};
use crate::core::state::SocketState;

/// The delivery bookkeeping of one socket (see the module docs).
pub(crate) struct Delivery {
    pub(crate) state: SocketState,
    pub(crate) done: VecDeque<Completion>,
    pub(crate) runner: u64,
    pub(crate) queued: bool,
    pub(crate) waiters: usize,
    pub(crate) abandoned: bool,
}

/// What a closing thread does next.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum CloseStep {
    /// Done: return.
    Return,
    /// Block on the socket's condition variable, then ask again.
    Wait,
    /// The socket is OPEN: move it to CLOSING, cancel and abandon what is pending.
    Begin,
    /// Nothing left to deliver: close the socket (CLOSED) and return.
    Finish,
    /// This thread is the runner now: deliver every completion, release the runner role unless
    /// `nested` (it was already the runner, inside a callback), finish and return.
    Deliver {
        /// The caller was already the runner.
        nested: bool,
    },
    /// Schedule the socket on its engine (`queued` is set), then ask again.
    Schedule,
}

impl Delivery {
    /// A CLOSED socket's bookkeeping.
    pub(crate) fn new() -> Self {
        Delivery {
            state: SocketState::Closed,
            done: VecDeque::new(),
            runner: 0,
            queued: false,
            waiters: 0,
            abandoned: false,
        }
    }

    /// The next step of a close made by thread `me` (`on_worker`: a worker of the socket's
    /// engine). `entered` starts false and is kept by the caller between steps.
    pub(crate) fn close_step(&mut self, me: u64, on_worker: bool, entered: &mut bool) -> CloseStep {
        if !*entered {
            match self.state {
                SocketState::Opening => return CloseStep::Wait,
                SocketState::Open => {
                    *entered = true;
                    return CloseStep::Begin;
                }
                // A close from a completion delivered by the close already running on this
                // thread: that close finishes the job once the callback returns.
                SocketState::Closing if self.runner == me => return CloseStep::Return,
                // Another close is under way (help it end), or the socket is closed already
                // (but a callback may still be running: see below).
                SocketState::Closing | SocketState::Closed => *entered = true,
            }
        }
        if self.state != SocketState::Closing {
            // The close has ended. A close from inside a completion ends it while that callback
            // still runs on its thread: wait for it. (A socket opened again meanwhile is a new
            // socket, not ours to close.)
            if self.state == SocketState::Closed && self.runner != 0 && self.runner != me {
                return CloseStep::Wait;
            }
            return CloseStep::Return;
        }
        if !self.abandoned {
            // The close that began is still waiting for the kernel to give the buffers back.
            return CloseStep::Wait;
        }
        let nested = self.runner == me;
        if self.runner == 0 && self.done.is_empty() {
            return CloseStep::Finish;
        }
        if nested || (self.runner == 0 && on_worker) {
            self.runner = me;
            return CloseStep::Deliver { nested };
        }
        if self.runner == 0 && !self.queued {
            self.queued = true;
            return CloseStep::Schedule;
        }
        CloseStep::Wait
    }

    /// Moves every pending operation into `done` as ABANDONED, each queue in submission order,
    /// and marks the close as past the kernel.
    pub(crate) fn abandon(
        &mut self,
        recvs: impl IntoIterator<Item = Box<dyn RecvOp>>,
        sends: impl IntoIterator<Item = Box<dyn SendOp>>,
        notifies: impl IntoIterator<Item = NotifyOp>,
    ) {
        self.done
            .extend(recvs.into_iter().map(Completion::abandoned_recv));
        self.done
            .extend(sends.into_iter().map(Completion::abandoned_send));
        self.done
            .extend(notifies.into_iter().map(Completion::abandoned_notify));
        self.abandoned = true;
    }

    /// A close finished: CLOSED, ready to be opened again.
    pub(crate) fn closed(&mut self) {
        self.state = SocketState::Closed;
        self.abandoned = false;
    }

    /// A scheduled run starts on thread `me`: whether it is the runner (no other thread is).
    pub(crate) fn start_run(&mut self, me: u64) -> bool {
        self.queued = false;
        if self.runner != 0 {
            return false;
        }
        self.runner = me;
        true
    }

    /// A run ended: releases the runner role; whether the run must now finish a close.
    pub(crate) fn end_run(&mut self) -> bool {
        self.runner = 0;
        self.state == SocketState::Closing && self.abandoned
    }
}

#[cfg(test)]
mod tests {
    use super::{CloseStep, Delivery};
    use crate::core::ops::Completion;
    use crate::core::state::SocketState;

    fn pending() -> Completion {
        Completion::Notify(Box::new(|_| {}), crate::NotifyResult::In)
    }

    #[test]
    fn a_close_of_an_open_idle_socket_begins_then_finishes() {
        let mut d = Delivery::new();
        d.state = SocketState::Open;
        let mut entered = false;
        assert_eq!(d.close_step(1, false, &mut entered), CloseStep::Begin);
        d.state = SocketState::Closing;
        d.abandon([], [], []);
        assert_eq!(d.close_step(1, false, &mut entered), CloseStep::Finish);
    }

    #[test]
    fn a_foreign_thread_schedules_once_and_a_worker_delivers_itself() {
        let mut d = Delivery::new();
        d.state = SocketState::Closing;
        d.abandoned = true;
        d.done.push_back(pending());
        let mut entered = false;
        assert_eq!(d.close_step(1, false, &mut entered), CloseStep::Schedule);
        assert!(d.queued);
        assert_eq!(d.close_step(1, false, &mut entered), CloseStep::Wait);
        let mut entered = false;
        assert_eq!(
            d.close_step(2, true, &mut entered),
            CloseStep::Deliver { nested: false }
        );
        assert_eq!(d.runner, 2);
    }

    #[test]
    fn a_close_inside_a_completion_returns_or_delivers_as_the_runner() {
        let mut d = Delivery::new();
        d.state = SocketState::Closing;
        d.abandoned = true;
        d.runner = 7;
        d.done.push_back(pending());
        // Inside a completion delivered by the close running on this thread.
        assert_eq!(d.close_step(7, true, &mut false), CloseStep::Return);
        // Inside a completion, having begun the close itself.
        assert_eq!(
            d.close_step(7, true, &mut true),
            CloseStep::Deliver { nested: true }
        );
    }

    #[test]
    fn after_closing_a_close_waits_for_a_running_callback_of_another_thread() {
        let mut d = Delivery::new();
        d.runner = 3;
        assert_eq!(d.close_step(1, false, &mut false), CloseStep::Wait);
        d.runner = 0;
        assert_eq!(d.close_step(1, false, &mut true), CloseStep::Return);
    }

    #[test]
    fn a_close_waits_while_the_kernel_still_holds_buffers() {
        let mut d = Delivery::new();
        d.state = SocketState::Closing;
        assert_eq!(d.close_step(1, true, &mut false), CloseStep::Wait);
    }
}
