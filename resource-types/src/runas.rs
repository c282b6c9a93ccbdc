//! Running a program as another user: the `user` and `group` properties of `process` and
//! `tmax-node`. Names or numbers are resolved when the resource is opened, so an unknown user
//! is an invalid property (naming it) rather than a failed start. Without `user` the program
//! runs as the agent does (root on a real cluster: give services a user).

use nix::unistd::{Gid, Group, Uid, User};
use nonstop_contract::schema::PropertyError;
use tokio::process::Command;

/// Who a program runs as.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RunAs {
    /// The user's id.
    pub uid: u32,
    /// The group's id (the user's primary group unless `group` names another).
    pub gid: u32,
    /// The user's name and home, for `USER`, `LOGNAME` and `HOME` (a bare uid has none).
    pub name: Option<String>,
    /// Its home directory.
    pub home: Option<String>,
}

impl RunAs {
    /// From the `user` and `group` properties; `None` when neither is set. A group alone runs
    /// as the agent's user with that group.
    pub fn from_props(
        user: Option<&str>,
        group: Option<&str>,
    ) -> Result<Option<RunAs>, PropertyError> {
        if user.is_none() && group.is_none() {
            return Ok(None);
        }
        let bad = |prop: &str, reason: String| PropertyError {
            property: prop.to_string(),
            reason,
        };
        let (uid, mut gid, name, home) = match user {
            Some(u) => {
                let found = lookup_user(u).map_err(|e| bad("user", e))?;
                (
                    found.uid.as_raw(),
                    found.gid.as_raw(),
                    Some(found.name),
                    Some(found.dir.display().to_string()),
                )
            }
            None => (Uid::current().as_raw(), Gid::current().as_raw(), None, None),
        };
        if let Some(g) = group {
            gid = lookup_group(g).map_err(|e| bad("group", e))?;
        }
        Ok(Some(RunAs {
            uid,
            gid,
            name,
            home,
        }))
    }

    /// Makes `cmd` run as this user and group (supplementary groups dropped).
    pub fn apply(&self, cmd: &mut Command) {
        cmd.uid(self.uid).gid(self.gid);
        if let Some(name) = &self.name {
            cmd.env("USER", name).env("LOGNAME", name);
        }
        if let Some(home) = &self.home {
            cmd.env("HOME", home);
        }
    }
}

fn lookup_user(u: &str) -> Result<User, String> {
    let found = match u.parse::<u32>() {
        Ok(id) => User::from_uid(Uid::from_raw(id)),
        Err(_) => User::from_name(u),
    };
    match found {
        Ok(Some(user)) => Ok(user),
        Ok(None) => Err(format!("no user {u:?} on this machine")),
        Err(e) => Err(format!("cannot look up user {u:?}: {e}")),
    }
}

fn lookup_group(g: &str) -> Result<u32, String> {
    if let Ok(id) = g.parse::<u32>() {
        return Ok(id);
    }
    match Group::from_name(g) {
        Ok(Some(group)) => Ok(group.gid.as_raw()),
        Ok(None) => Err(format!("no group {g:?} on this machine")),
        Err(e) => Err(format!("cannot look up group {g:?}: {e}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn users_and_groups_resolve_by_name_or_number_and_unknown_ones_are_named() {
        assert_eq!(RunAs::from_props(None, None).unwrap(), None);
        let nobody = RunAs::from_props(Some("nobody"), None).unwrap().unwrap();
        assert_eq!(nobody.name.as_deref(), Some("nobody"));
        let by_id = RunAs::from_props(Some(&nobody.uid.to_string()), Some("0"))
            .unwrap()
            .unwrap();
        assert_eq!((by_id.uid, by_id.gid), (nobody.uid, 0));
        let e = RunAs::from_props(Some("no-such-user-here"), None).unwrap_err();
        assert_eq!(e.property, "user");
        assert!(e.reason.contains("no user \"no-such-user-here\""), "{e}");
        let e = RunAs::from_props(None, Some("no-such-group-here")).unwrap_err();
        assert_eq!(e.property, "group");
    }
}
