//! Who is on the other end: the effective uid of this process and the login name of a uid, as
//! the audit log records `who` — shared by the control socket (its peers) and the faces (the
//! local operator), so neither imports the other.

/// The effective uid of this process: the one whose peers may use the socket. Compared with
/// `SO_PEERCRED`'s uid; the owner of `/proc/self` is not used (it is root for a process that
/// is not dumpable, and absent without procfs).
pub fn current_uid() -> u32 {
    // SAFETY: geteuid(2) has no preconditions, cannot fail and touches no memory of ours.
    unsafe { libc::geteuid() }
}

/// The login name of `uid` from the passwd database file, else `uid:<n>`: what the audit log
/// records as `who` for a command that came over the socket (the client's own `$USER` is not
/// trusted, it is whatever the client's environment says).
pub fn user_name(uid: u32) -> String {
    let passwd = std::fs::read_to_string("/etc/passwd").unwrap_or_default();
    passwd
        .lines()
        .filter_map(|l| {
            let mut f = l.split(':');
            let name = f.next()?;
            let id = f.nth(1)?.parse::<u32>().ok()?;
            (id == uid && !name.is_empty()).then(|| name.to_string())
        })
        .next()
        .unwrap_or_else(|| format!("uid:{uid}"))
}
