//! A throw-away PostgreSQL cluster for tests: one per test process, started on first use, on a unix
//! socket only (no port is assumed free), with `fsync` off; each test gets a database of its own,
//! made from a template that already has PostGIS. The cluster is stopped and its directory removed
//! when the process exits (`atexit`), and a cluster left behind by a process that died is removed
//! by the next one.
//!
//! Needs PostgreSQL 15 with PostGIS 3 (`scripts/setup.sh` installs them); without them every test
//! that asks for a database fails, saying so. PostgreSQL refuses to run as root: as root (as in CI)
//! the cluster runs as the unprivileged user `atlas-pg`, which `scripts/setup.sh` creates.
//!
//! Also compiled into the integration tests (`tests/api/pg.rs` includes this file): it uses only
//! std, libc and the `postgres` crate.

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicI32, AtomicUsize, Ordering};
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

/// The database superuser, and the OS user the cluster runs as when the tests run as root.
pub const USER: &str = "atlas-pg";
/// The template every test database is made from (PostGIS installed).
const TEMPLATE: &str = "atlas_template";
const PREFIX: &str = "atlas-pgtest-";

pub struct Cluster {
    dir: PathBuf,
    admin: Mutex<postgres::Client>,
}

static CLUSTER: OnceLock<Result<Cluster, String>> = OnceLock::new();
static POSTMASTER: AtomicI32 = AtomicI32::new(0);
static DIR: OnceLock<PathBuf> = OnceLock::new();
static NEXT: AtomicUsize = AtomicUsize::new(0);

/// Where the PostgreSQL programs are: `ATLAS_PG_BIN`, or Debian's PostgreSQL 15.
pub fn bin_dir() -> PathBuf {
    std::env::var_os("ATLAS_PG_BIN")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/usr/lib/postgresql/15/bin"))
}

/// The process's cluster, started on first use. Panics with the reason if it cannot start.
pub fn cluster() -> &'static Cluster {
    match CLUSTER.get_or_init(start) {
        Ok(c) => c,
        Err(e) => panic!("cannot start the test PostgreSQL cluster: {e}"),
    }
}

/// A fresh database with PostGIS, for one test: its URL.
pub fn database(tag: &str) -> String {
    cluster().database(tag)
}

impl Cluster {
    /// The directory of the cluster's socket.
    pub fn socket_dir(&self) -> &Path {
        &self.dir
    }

    /// The URL of database `db` over the socket.
    pub fn url(&self, db: &str) -> String {
        format!("postgresql://{USER}@/{db}?host={}", self.dir.display())
    }

    /// A connection to database `db` as the superuser.
    pub fn connect(&self, db: &str) -> postgres::Client {
        postgres::Client::connect(&self.url(db), postgres::NoTls)
            .unwrap_or_else(|e| panic!("cannot connect to test database {db}: {e}"))
    }

    /// Makes database `t_<tag>_<n>` from the template; its URL.
    pub fn database(&self, tag: &str) -> String {
        let clean: String = tag
            .chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() {
                    c.to_ascii_lowercase()
                } else {
                    '_'
                }
            })
            .take(40)
            .collect();
        let name = format!("t_{clean}_{}", NEXT.fetch_add(1, Ordering::Relaxed));
        self.create(&name, true);
        self.url(&name)
    }

    /// Creates database `name`, from the PostGIS template or empty.
    pub fn create(&self, name: &str, postgis: bool) {
        let template = if postgis { TEMPLATE } else { "template0" };
        let mut admin = self.admin.lock().unwrap_or_else(|p| p.into_inner());
        admin
            .batch_execute(&format!("CREATE DATABASE \"{name}\" TEMPLATE {template}"))
            .unwrap_or_else(|e| panic!("cannot create test database {name}: {e}"));
    }
}

/// Runs a PostgreSQL program, as `atlas-pg` when we are root.
fn command(program: &str, owner: Option<(u32, u32)>) -> Command {
    let path = bin_dir().join(program);
    let mut c = match owner {
        Some((uid, gid)) => {
            // setpriv execs the program (no fork): its pid is the program's.
            let mut c = Command::new("setpriv");
            c.arg(format!("--reuid={uid}"))
                .arg(format!("--regid={gid}"))
                .arg("--clear-groups")
                .arg("--")
                .arg(path);
            c
        }
        None => Command::new(path),
    };
    c.env("LC_ALL", "C").env("LANG", "C");
    c
}

/// The uid and gid of `atlas-pg`, if we run as root (else `None`: run as ourselves).
fn owner() -> Result<Option<(u32, u32)>, String> {
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        return Ok(None);
    }
    let name = std::ffi::CString::new(USER).expect("no NUL");
    // SAFETY: getpwnam reads the passwd database; the result is copied out at once.
    let pw = unsafe { libc::getpwnam(name.as_ptr()) };
    if pw.is_null() {
        return Err(format!(
            "the tests run as root, and PostgreSQL refuses to: they run it as the user {USER}, \
             which does not exist (scripts/setup.sh creates it: useradd --system {USER})"
        ));
    }
    // SAFETY: pw is non-null and points to a valid passwd record.
    let (uid, gid) = unsafe { ((*pw).pw_uid, (*pw).pw_gid) };
    Ok(Some((uid, gid)))
}

/// Removes clusters left by test processes that are gone.
fn remove_leftovers() {
    let Ok(entries) = std::fs::read_dir(std::env::temp_dir()) else {
        return;
    };
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        let Some(pid) = name
            .strip_prefix(PREFIX)
            .and_then(|rest| rest.split('-').next())
            .and_then(|p| p.parse::<i32>().ok())
        else {
            continue;
        };
        // SAFETY: signal 0 only checks that the process exists.
        let alive = unsafe { libc::kill(pid, 0) } == 0
            || std::io::Error::last_os_error().raw_os_error() == Some(libc::EPERM);
        if alive {
            continue;
        }
        let pidfile = entry.path().join("data/postmaster.pid");
        if let Some(postmaster) = std::fs::read_to_string(pidfile)
            .ok()
            .and_then(|t| t.lines().next()?.trim().parse::<i32>().ok())
        {
            // SAFETY: plain signal to a process id.
            unsafe { libc::kill(postmaster, libc::SIGKILL) };
        }
        let _ = std::fs::remove_dir_all(entry.path());
    }
}

extern "C" fn stop_at_exit() {
    let pid = POSTMASTER.load(Ordering::SeqCst);
    if pid > 0 {
        // SAFETY: signals and waitpid on our own child.
        unsafe {
            libc::kill(pid, libc::SIGQUIT); // immediate shutdown
            let deadline = Instant::now() + Duration::from_secs(5);
            let mut status = 0;
            while libc::waitpid(pid, &mut status, libc::WNOHANG) == 0 && Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(20));
            }
            libc::kill(pid, libc::SIGKILL);
        }
    }
    if let Some(dir) = DIR.get() {
        let _ = std::fs::remove_dir_all(dir);
    }
}

fn start() -> Result<Cluster, String> {
    let bin = bin_dir();
    if !bin.join("initdb").is_file() || !bin.join("postgres").is_file() {
        return Err(format!(
            "PostgreSQL is not installed ({}/initdb not found): run scripts/setup.sh, which \
             installs postgresql-15 and postgresql-15-postgis-3, or set ATLAS_PG_BIN",
            bin.display()
        ));
    }
    let owner = owner()?;
    remove_leftovers();
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    let dir = std::env::temp_dir().join(format!("{PREFIX}{}-{nanos}", std::process::id()));
    std::fs::create_dir_all(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    let _ = DIR.set(dir.clone());
    // SAFETY: registers a plain extern "C" function.
    unsafe { libc::atexit(stop_at_exit) };
    if let Some((uid, gid)) = owner {
        std::os::unix::fs::chown(&dir, Some(uid), Some(gid))
            .map_err(|e| format!("chown {}: {e}", dir.display()))?;
    }
    let data = dir.join("data");
    let log = dir.join("log");
    let out = command("initdb", owner)
        .current_dir(&dir)
        .args(["--auth=trust", "--encoding=UTF8", "--locale=C", "--no-sync"])
        .arg(format!("--username={USER}"))
        .arg("-D")
        .arg(&data)
        .output()
        .map_err(|e| format!("cannot run initdb: {e}"))?;
    if !out.status.success() {
        return Err(format!(
            "initdb failed: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ));
    }
    let log_file = std::fs::File::create(&log).map_err(|e| e.to_string())?;
    if let Some((uid, gid)) = owner {
        let _ = std::os::unix::fs::chown(&log, Some(uid), Some(gid));
    }
    let mut child = command("postgres", owner)
        .current_dir(&dir)
        .arg("-D")
        .arg(&data)
        .arg("-k")
        .arg(&dir)
        .args([
            "-c",
            "listen_addresses=",
            "-c",
            "fsync=off",
            "-c",
            "synchronous_commit=off",
            "-c",
            "full_page_writes=off",
            "-c",
            "max_connections=300",
            "-c",
            "shared_buffers=64MB",
        ])
        .stdin(Stdio::null())
        .stdout(log_file.try_clone().map_err(|e| e.to_string())?)
        .stderr(log_file)
        .spawn()
        .map_err(|e| format!("cannot start postgres: {e}"))?;
    POSTMASTER.store(child.id() as i32, Ordering::SeqCst);
    let url = |db: &str| format!("postgresql://{USER}@/{db}?host={}", dir.display());
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut admin = loop {
        match postgres::Client::connect(&url("postgres"), postgres::NoTls) {
            Ok(c) => break c,
            Err(e) => {
                let log = std::fs::read_to_string(&log).unwrap_or_default();
                if let Ok(Some(status)) = child.try_wait() {
                    return Err(format!("postgres exited ({status}): {log}"));
                }
                if Instant::now() > deadline {
                    return Err(format!("postgres did not get ready in 60 s ({e}): {log}"));
                }
                std::thread::sleep(Duration::from_millis(50));
            }
        }
    };
    admin
        .batch_execute(&format!("CREATE DATABASE {TEMPLATE}"))
        .map_err(|e| format!("cannot create the template: {e}"))?;
    {
        let mut t = postgres::Client::connect(&url(TEMPLATE), postgres::NoTls)
            .map_err(|e| format!("cannot connect to the template: {e}"))?;
        t.batch_execute("CREATE EXTENSION postgis").map_err(|e| {
            format!(
                "cannot create the PostGIS extension ({e}): is postgresql-15-postgis-3 installed? \
                 (scripts/setup.sh installs it)"
            )
        })?;
    }
    Ok(Cluster {
        dir,
        admin: Mutex::new(admin),
    })
}

/// A cluster of one test's own, which it may stop and start again (fault tests), or make a hot
/// standby of (streaming replication): in a directory of its own, on a unix socket only, with
/// PostgreSQL's durability settings left as they are. Stopped and removed when dropped.
pub struct OwnCluster {
    dir: PathBuf,
    owner: Option<(u32, u32)>,
    child: Option<std::process::Child>,
}

impl OwnCluster {
    /// A new cluster with PostGIS in database `atlas`, started.
    pub fn new(tag: &str) -> OwnCluster {
        let c = OwnCluster::empty(tag);
        let out = command("initdb", c.owner)
            .current_dir(&c.dir)
            .args(["--auth=trust", "--encoding=UTF8", "--locale=C", "--no-sync"])
            .arg(format!("--username={USER}"))
            .arg("-D")
            .arg(c.data())
            .output()
            .expect("initdb runs");
        assert!(
            out.status.success(),
            "initdb failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let mut c = c;
        c.start();
        let mut admin = c.connect("postgres");
        admin.batch_execute("CREATE DATABASE atlas").unwrap();
        c.connect("atlas")
            .batch_execute("CREATE EXTENSION postgis")
            .unwrap();
        c
    }

    /// A hot standby of `primary`, streaming from it (`pg_basebackup -R`), started.
    pub fn standby_of(primary: &OwnCluster, tag: &str) -> OwnCluster {
        let mut c = OwnCluster::empty(tag);
        let out = command("pg_basebackup", c.owner)
            .current_dir(&c.dir)
            .arg("-D")
            .arg(c.data())
            .args(["-R", "-X", "stream", "--no-sync", "-U", USER, "-h"])
            .arg(&primary.dir)
            .output()
            .expect("pg_basebackup runs");
        assert!(
            out.status.success(),
            "pg_basebackup failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        c.start();
        c
    }

    fn empty(tag: &str) -> OwnCluster {
        let owner = owner().unwrap_or_else(|e| panic!("{e}"));
        let dir = std::env::temp_dir().join(format!(
            "{PREFIX}{}-own-{tag}-{}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        ));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        if let Some((uid, gid)) = owner {
            std::os::unix::fs::chown(&dir, Some(uid), Some(gid)).unwrap();
        }
        OwnCluster {
            dir,
            owner,
            child: None,
        }
    }

    fn data(&self) -> PathBuf {
        self.dir.join("data")
    }

    /// The URL of database `db` over the socket.
    pub fn url(&self, db: &str) -> String {
        format!("postgresql://{USER}@/{db}?host={}", self.dir.display())
    }

    pub fn connect(&self, db: &str) -> postgres::Client {
        postgres::Client::connect(&self.url(db), postgres::NoTls)
            .unwrap_or_else(|e| panic!("cannot connect to {db}: {e}"))
    }

    /// Starts the server and waits until it accepts connections.
    pub fn start(&mut self) {
        assert!(self.child.is_none(), "already running");
        let log = self.dir.join("log");
        let file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&log)
            .unwrap();
        if let Some((uid, gid)) = self.owner {
            let _ = std::os::unix::fs::chown(&log, Some(uid), Some(gid));
        }
        let child = command("postgres", self.owner)
            .current_dir(&self.dir)
            .arg("-D")
            .arg(self.data())
            .arg("-k")
            .arg(&self.dir)
            .args(["-c", "listen_addresses=", "-c", "max_connections=100"])
            .stdin(Stdio::null())
            .stdout(file.try_clone().unwrap())
            .stderr(file)
            .spawn()
            .expect("postgres starts");
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let ready = command("pg_isready", None)
                .arg("-h")
                .arg(&self.dir)
                .args(["-U", USER, "-d", "postgres", "-q"])
                .status()
                .is_ok_and(|s| s.success());
            if ready {
                return;
            }
            if let Some(Ok(Some(status))) = self.child.as_mut().map(|c| c.try_wait()) {
                panic!(
                    "postgres exited ({status}): {}",
                    std::fs::read_to_string(&log).unwrap_or_default()
                );
            }
            assert!(
                Instant::now() < deadline,
                "postgres did not get ready in 60 s"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Stops the server: `fast` (SIGINT: connections cut, a clean shutdown) or, if not,
    /// immediate (SIGQUIT: as close to pulling the plug as a test gets; recovery on restart).
    pub fn stop(&mut self, fast: bool) {
        let Some(mut child) = self.child.take() else {
            return;
        };
        let signal = if fast { libc::SIGINT } else { libc::SIGQUIT };
        // SAFETY: a plain signal to our own child.
        unsafe { libc::kill(child.id() as i32, signal) };
        let deadline = Instant::now() + Duration::from_secs(30);
        while child.try_wait().ok().flatten().is_none() {
            if Instant::now() > deadline {
                let _ = child.kill();
                let _ = child.wait();
                break;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for OwnCluster {
    fn drop(&mut self) {
        self.stop(false);
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
