//! Who may do what on the control socket, by the peer's kernel-reported credentials: root and
//! the daemon's own user may change things; members of the read group may only look.

use nix::unistd::{Gid, Uid};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    Full,
    ReadOnly,
    None,
}

#[derive(Debug, Clone)]
pub struct PeerPolicy {
    daemon_uid: u32,
    read_gid: Option<u32>,
}

impl PeerPolicy {
    /// `read_group` is looked up once; a group that does not exist grants nobody read access.
    pub fn new(read_group: Option<&str>) -> PeerPolicy {
        let read_gid = read_group
            .and_then(|name| nix::unistd::Group::from_name(name).ok().flatten())
            .map(|g| g.gid.as_raw());
        PeerPolicy {
            daemon_uid: Uid::effective().as_raw(),
            read_gid,
        }
    }

    pub fn access(&self, uid: u32, gid: u32) -> Access {
        if uid == 0 || uid == self.daemon_uid {
            Access::Full
        } else if self.read_gid == Some(gid) || self.read_gid.is_some_and(|g| in_group(uid, g)) {
            Access::ReadOnly
        } else {
            Access::None
        }
    }
}

/// Supplementary membership, which SO_PEERCRED does not carry.
fn in_group(uid: u32, gid: u32) -> bool {
    let Ok(Some(user)) = nix::unistd::User::from_uid(Uid::from_raw(uid)) else {
        return false;
    };
    let Ok(Some(group)) = nix::unistd::Group::from_gid(Gid::from_raw(gid)) else {
        return false;
    };
    group.mem.contains(&user.name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn root_and_self_have_full_access_others_none() {
        let policy = PeerPolicy {
            daemon_uid: 990,
            read_gid: Some(991),
        };
        assert_eq!(policy.access(0, 0), Access::Full);
        assert_eq!(policy.access(990, 5), Access::Full);
        assert_eq!(policy.access(1234, 991), Access::ReadOnly);
        assert_eq!(policy.access(1234, 1234), Access::None);
    }
}
