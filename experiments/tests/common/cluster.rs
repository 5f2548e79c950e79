//! A real single-node Slurm for the tests, from Debian's `slurm-wlm` and `munge`, started
//! without systemd: `munged`, then `slurmctld -D` and `slurmd -D`, with a minimal
//! `slurm.conf` and every state, spool, socket and log file in a temporary folder. It is up
//! once `sinfo` shows the node idle, and dropping it cancels its jobs and stops every daemon
//! it started, by pid.
//!
//! Where the packages are missing the tests that need it are skipped with a loud message; in
//! CI (`CI=true`, where `.ci/run` installs them) a skip is a failure.

use std::io::{Read as _, Write as _};
use std::net::TcpListener;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command};
use std::time::{Duration, Instant};

/// What the cluster needs on this machine (slurmd starts each job through slurmstepd at this
/// very path).
const NEEDS: [&str; 8] = [
    "/usr/sbin/munged",
    "/usr/sbin/slurmctld",
    "/usr/sbin/slurmd",
    "/usr/sbin/slurmstepd",
    "/usr/bin/sbatch",
    "/usr/bin/squeue",
    "/usr/bin/scontrol",
    "/usr/bin/sinfo",
];

/// A running test cluster.
pub struct Cluster {
    dir: tempfile::TempDir,
    daemons: Vec<(&'static str, Child)>,
}

/// Skip the calling test, loudly (on the process's stderr itself, which the test harness does
/// not capture, so that a passing run still shows it); in CI, fail it.
fn skip(why: &str) {
    let line = "*".repeat(78);
    let _ = writeln!(
        std::io::stderr(),
        "\n{line}\nSKIPPED: {why}.\nInstall Debian's slurm-wlm and munge \
         (apt-get install slurm-wlm munge) to run the Slurm tests; .ci/run does.\n{line}\n"
    );
    if std::env::var("CI").is_ok_and(|v| v == "true") {
        panic!("CI=true and the Slurm tests were skipped: {why}");
    }
}

/// A TCP port that is free now.
fn free_port() -> u16 {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    l.local_addr().unwrap().port()
}

fn user() -> String {
    let out = Command::new("id").arg("-un").output().unwrap();
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

/// The minimal slurm.conf of a one-node cluster whose files all live in `d`.
fn conf(d: &Path) -> String {
    let p = |s: &str| d.join(s).display().to_string();
    let u = user();
    format!(
        "ClusterName=iterandtest\nSlurmctldHost=localhost(127.0.0.1)\nSlurmUser={u}\n\
         SlurmdUser={u}\nAuthType=auth/munge\nAuthInfo=socket={}\nCredType=cred/munge\n\
         ProctrackType=proctrack/pgid\nTaskPlugin=task/none\nSelectType=select/cons_tres\n\
         SelectTypeParameters=CR_Core\nReturnToService=2\nStateSaveLocation={}\n\
         SlurmdSpoolDir={}\nSlurmctldPidFile={}\nSlurmdPidFile={}\nSlurmctldLogFile={}\n\
         SlurmdLogFile={}\nSlurmctldPort={}\nSlurmdPort={}\nMpiDefault=none\n\
         JobAcctGatherType=jobacct_gather/none\nAccountingStorageType=accounting_storage/none\n\
         NodeName=localhost NodeAddr=127.0.0.1 CPUs=2 State=UNKNOWN\n\
         PartitionName=debug Nodes=localhost Default=YES MaxTime=INFINITE State=UP\n",
        p("munge/munge.socket"),
        p("state"),
        p("spool"),
        p("slurmctld.pid"),
        p("slurmd.pid"),
        p("log/slurmctld.log"),
        p("log/slurmd.log"),
        free_port(),
        free_port(),
    )
}

impl Cluster {
    /// Start one, or `None` (after the loud skip) where the packages are missing.
    pub fn start() -> Option<Cluster> {
        let missing: Vec<&str> = NEEDS
            .into_iter()
            .filter(|p| !Path::new(p).exists())
            .collect();
        if !missing.is_empty() {
            skip(&format!("no {}", missing.join(", ")));
            return None;
        }
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        for sub in ["state", "spool", "log", "munge", "key"] {
            std::fs::create_dir_all(d.join(sub)).unwrap();
        }
        // munged wants its socket's folders searchable by all, and its key private.
        let mode = |p: &Path, m| std::fs::set_permissions(p, PermissionsExt::from_mode(m));
        mode(d, 0o755).unwrap();
        mode(&d.join("munge"), 0o755).unwrap();
        mode(&d.join("key"), 0o700).unwrap();
        let mut key = vec![0u8; 1024];
        std::fs::File::open("/dev/urandom")
            .and_then(|mut f| f.read_exact(&mut key))
            .unwrap();
        std::fs::write(d.join("key/munge.key"), key).unwrap();
        mode(&d.join("key/munge.key"), 0o400).unwrap();
        std::fs::write(d.join("slurm.conf"), conf(d)).unwrap();
        let mut c = Cluster {
            dir,
            daemons: vec![],
        };
        let munged = munged_args(c.dir.path());
        c.spawn("munged", &munged);
        c.wait_for(Duration::from_secs(20), "munged's socket", |c| {
            c.path("munge/munge.socket").exists()
        });
        c.spawn("slurmctld", &["-D".into()]);
        c.spawn("slurmd", &["-D".into(), "-N".into(), "localhost".into()]);
        c.wait_for(Duration::from_secs(60), "the node idle in sinfo", |c| {
            c.output("sinfo", &["-h", "-o", "%T"]).trim() == "idle"
        });
        Some(c)
    }

    fn spawn(&mut self, name: &'static str, args: &[String]) {
        let log = std::fs::File::create(self.path(&format!("log/{name}.out"))).unwrap();
        let child = Command::new(format!("/usr/sbin/{name}"))
            .args(args)
            .env("SLURM_CONF", self.conf())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .unwrap();
        self.daemons.push((name, child));
    }

    /// A file of the cluster's folder.
    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    fn conf(&self) -> PathBuf {
        self.path("slurm.conf")
    }

    /// `program` speaking to this cluster (and to no other: no Slurm variable of an outer job).
    pub fn command(&self, program: impl AsRef<std::ffi::OsStr>) -> Command {
        let mut c = Command::new(program);
        for (k, _) in std::env::vars() {
            if k.starts_with("SLURM_") {
                c.env_remove(k);
            }
        }
        c.env("SLURM_CONF", self.conf());
        c
    }

    /// A Slurm command's stdout (empty if it fails).
    pub fn output(&self, program: &str, args: &[&str]) -> String {
        let out = self.command(program).args(args).output().unwrap();
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// Wait until `done` holds, or fail with the daemons' logs after `limit`.
    pub fn wait_for(&self, limit: Duration, what: &str, done: impl Fn(&Self) -> bool) {
        let start = Instant::now();
        while !done(self) {
            if start.elapsed() > limit {
                panic!("no {what} after {limit:?}\n{}", self.logs());
            }
            std::thread::sleep(Duration::from_millis(250));
        }
    }

    /// Wait until the job `id` has left the queue. A requeued task waits about two minutes
    /// (its begin time) before Slurm starts it again; this moves that time to now, so that the
    /// tests wait for the training and not for the delay.
    pub fn wait_done(&self, id: &str, limit: Duration) {
        self.wait_for(limit, &format!("end of job {id}"), |c| {
            let q = c.output("squeue", &["-h", "-r", "-j", id, "-o", "%i %r"]);
            for line in q.lines().filter(|l| l.ends_with(" BeginTime")) {
                let task = line.split(' ').next().unwrap_or_default();
                c.output(
                    "scontrol",
                    &["update", &format!("JobId={task}"), "StartTime=now"],
                );
            }
            q.trim().is_empty()
        });
    }

    /// The tails of the daemons' logs, for a failure's message.
    pub fn logs(&self) -> String {
        let mut out = String::new();
        for name in ["munged.out", "slurmctld.log", "slurmd.log", "slurmd.out"] {
            let text = std::fs::read_to_string(self.path(&format!("log/{name}")));
            let text = text.unwrap_or_default();
            let tail: Vec<&str> = text.lines().rev().take(15).collect();
            out += &format!("--- {name}\n");
            for l in tail.into_iter().rev() {
                out += &format!("{l}\n");
            }
        }
        out
    }
}

fn munged_args(d: &Path) -> Vec<String> {
    let s = |n: &str| d.join(n).display().to_string();
    vec![
        "-F".into(),
        format!("--key-file={}", s("key/munge.key")),
        format!("--socket={}", s("munge/munge.socket")),
        format!("--pid-file={}", s("munge/munged.pid")),
        format!("--seed-file={}", s("key/munged.seed")),
        format!("--log-file={}", s("log/munge.log")),
    ]
}

impl Drop for Cluster {
    fn drop(&mut self) {
        let _ = self
            .command("scancel")
            .arg(format!("--user={}", user()))
            .status();
        let start = Instant::now();
        while !self.output("squeue", &["-h"]).trim().is_empty()
            && start.elapsed() < Duration::from_secs(20)
        {
            std::thread::sleep(Duration::from_millis(250));
        }
        for (_, child) in self.daemons.iter_mut().rev() {
            // SAFETY: kill(2) on a child this process started and has not yet waited for.
            unsafe { libc::kill(child.id() as libc::pid_t, libc::SIGTERM) };
            let start = Instant::now();
            while child.try_wait().ok().flatten().is_none() {
                if start.elapsed() > Duration::from_secs(10) {
                    let _ = child.kill();
                    let _ = child.wait();
                    break;
                }
                std::thread::sleep(Duration::from_millis(100));
            }
        }
    }
}
