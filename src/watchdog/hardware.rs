//! A hardware watchdog (`/dev/watchdog`): a device that resets the machine unless it is written
//! to within its timeout. The watchdog process feeds it, as Pacemaker's SBD does, so that what
//! an ordinary process cannot guarantee is still guaranteed: if the watchdog process hangs or
//! dies, the kernel hangs, or something it had to stop could not be stopped, the device resets
//! the machine.
//!
//! The Linux interface (Documentation/watchdog/watchdog-api.rst): any write restarts the
//! countdown; writing `V` just before closing (the "magic close") disarms it, where the driver
//! was not built or loaded with `nowayout`; closing without it leaves it armed. Only one process
//! may have the device open. The countdown is the driver's (`wdctl` shows and sets it); it
//! must be well above [`PET_EVERY`].
//!
//! When to feed it is [`Feeding::next`], pure; tests use a plain file as the device.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// How often the device is fed while the machine is sound.
pub const PET_EVERY: Duration = Duration::from_secs(1);

/// A device that resets the machine unless fed.
pub trait Hardware: Send + std::fmt::Debug {
    /// Restarts its countdown.
    fn pet(&mut self) -> std::io::Result<()>;
    /// Disarms it and lets it go (an orderly exit: nothing is left to guard).
    fn release(&mut self) -> std::io::Result<()>;
}

/// A watchdog device file.
#[derive(Debug)]
pub struct Device {
    path: PathBuf,
    file: Option<std::fs::File>,
}

impl Device {
    /// Opens (and so arms) the device at `path`, retrying for up to `wait`: the watchdog of a
    /// daemon that just died may still hold it while it stops what that daemon ran.
    pub fn open(path: &Path, wait: Duration) -> std::io::Result<Device> {
        let until = std::time::Instant::now() + wait;
        loop {
            match std::fs::OpenOptions::new().write(true).open(path) {
                Ok(file) => {
                    return Ok(Device {
                        path: path.to_path_buf(),
                        file: Some(file),
                    });
                }
                Err(e) if std::time::Instant::now() >= until => return Err(e),
                Err(_) => std::thread::sleep(Duration::from_millis(100)),
            }
        }
    }
}

impl Hardware for Device {
    fn pet(&mut self) -> std::io::Result<()> {
        match &mut self.file {
            Some(f) => f.write_all(b"\0").and_then(|()| f.flush()),
            None => Err(std::io::Error::other(format!(
                "{} was released",
                self.path.display()
            ))),
        }
    }

    fn release(&mut self) -> std::io::Result<()> {
        match self.file.take() {
            Some(mut f) => f.write_all(b"V").and_then(|()| f.flush()),
            None => Ok(()),
        }
    }
}

/// What the device gets next.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Feed {
    /// Restart its countdown.
    Pet,
    /// Nothing: the machine is not sound; the device resets it when its countdown ends.
    Withhold,
    /// Disarm it: the watchdog exits in order, with nothing left to guard.
    Release,
}

/// Whether the machine is sound, as far as the watchdog knows.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Feeding {
    /// A fence left something running that had to stop: only a reset stops it now.
    undone: bool,
}

impl Feeding {
    /// A fence ended; `undone` when something it had to stop is still there. A later clean
    /// fence (its clean-up succeeded on a retry) makes the machine sound again.
    pub fn fenced(&mut self, undone: bool) {
        self.undone = undone;
    }

    /// What the device gets now; `exiting` when the watchdog is about to exit.
    pub fn next(&self, exiting: bool) -> Feed {
        match (self.undone, exiting) {
            (true, _) => Feed::Withhold,
            (false, true) => Feed::Release,
            (false, false) => Feed::Pet,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn it_is_fed_while_sound_withheld_after_an_undone_fence_and_released_on_an_orderly_exit() {
        let mut f = Feeding::default();
        assert_eq!(f.next(false), Feed::Pet);
        f.fenced(false);
        assert_eq!(f.next(false), Feed::Pet);
        assert_eq!(f.next(true), Feed::Release);
        // Something survived the fence: never fed again, never disarmed, exiting or not.
        f.fenced(true);
        assert_eq!(f.next(false), Feed::Withhold);
        assert_eq!(f.next(true), Feed::Withhold);
        // A later fence undid it after all.
        f.fenced(false);
        assert_eq!(f.next(false), Feed::Pet);
    }

    #[test]
    fn a_device_is_written_to_when_fed_and_gets_the_magic_close_when_released() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("watchdog");
        std::fs::write(&path, b"").unwrap();
        let mut d = Device::open(&path, Duration::ZERO).unwrap();
        d.pet().unwrap();
        d.pet().unwrap();
        d.release().unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), b"\0\0V");
        assert!(d.pet().is_err(), "fed after it was released");
        d.release().unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), b"\0\0V");
    }

    #[test]
    fn a_device_that_cannot_be_opened_is_an_error_after_the_wait() {
        let dir = tempfile::tempdir().unwrap();
        let missing = dir.path().join("no-such-device");
        let start = std::time::Instant::now();
        assert!(Device::open(&missing, Duration::from_millis(300)).is_err());
        assert!(start.elapsed() >= Duration::from_millis(300));
    }
}
