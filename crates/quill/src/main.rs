//! `quill`: host Python WSGI apps with Apache httpd's process model, and see
//! what a process configuration will do before it reaches production.
//!
//! The binary is glue: argument parsing and I/O around the pure crates.

// The shell reads the environment (for `${VAR}` in configs) and the clock;
// the pure crates do not.
#![allow(clippy::disallowed_methods)]
// Printing is this crate's job; libraries must not print.
#![allow(clippy::print_stdout, clippy::print_stderr)]

mod cmd_check;
mod cmd_config;
mod cmd_express;
mod cmd_report;
mod cmd_serve;
mod cmd_simulate;
mod load;
mod sample;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// Host Python WSGI applications with Apache httpd's process model, and see
/// what a configuration will do before it reaches production.
#[derive(Debug, Parser)]
#[command(name = "quill", version, about, long_about = None, propagate_version = true)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Print the effective configuration: MPM settings after Apache's
    /// adjustments, listeners, virtual hosts and their WSGI mounts, daemon
    /// process groups, and every diagnostic.
    ///
    /// Exit status: 0 when the configuration is usable (warnings allowed),
    /// 1 when Apache would refuse it, 2 when it cannot be read.
    #[command(
        after_help = "Examples:\n  quill config /etc/apache2/apache2.conf\n  quill config httpd.conf --mpm worker --define SSL\n  quill config httpd.conf --json | jq .mpm"
    )]
    Config(cmd_config::ConfigArgs),
    /// Predict, second by second, what the process pool does under a load:
    /// processes, spawns and kills, busy and idle threads, queueing — with
    /// the same controller code the server runs, in virtual time.
    ///
    /// Exit status: 0 on success, 1 when the configuration has errors or the
    /// simulation fails, 2 when an input cannot be read.
    #[command(
        after_help = "Examples:\n  quill simulate httpd.conf --load examples/loads/step-200.csv\n  quill simulate httpd.conf --load access.log --out sim/ && xdg-open sim/report.html\n  quill simulate httpd.conf --load poisson.csv --seed 7 --format json"
    )]
    Simulate(cmd_simulate::SimulateArgs),
    /// Lint a configuration: what Apache will silently adjust, start-up
    /// kill-off and churn (simulated), unreachable capacity, keep-alive,
    /// mod_wsgi daemon groups, front end against daemon capacity, memory —
    /// each finding with file:line:col, the numbers and the edit that fixes it.
    ///
    /// Exit status: 0 when there is no error (warnings allowed unless
    /// `--deny warnings`), 1 when there are errors, 2 when the configuration
    /// cannot be read.
    #[command(
        after_help = "Examples:\n  quill check /etc/apache2/apache2.conf\n  quill check httpd.conf --format json | jq '.findings[].rule'\n  quill check httpd.conf --format sarif > quill.sarif\n  quill check httpd.conf --deny warnings --daemon-rss 180\n  quill check --explain startup-kill-off"
    )]
    Check(cmd_check::CheckArgs),
    /// How much of its configuration a server really uses: front-end
    /// processes and threads used against configured, per daemon group
    /// utilisation and waiting, where the time goes — from a live server's
    /// status and metrics pages sampled over a window, or from an access log
    /// with %D. Then a proposal (daemon processes × threads for a target
    /// utilisation, the spare band, StartServers, MaxRequestWorkers) that
    /// `quill check` finds clean, and the observed traffic replayed through
    /// the simulator with both configurations, side by side.
    ///
    /// Exit status: 0 on success, 1 when the configuration has errors or the
    /// analysis fails, 2 when an input cannot be read or fetched.
    #[command(
        after_help = "Examples:\n  quill report httpd.conf --url http://127.0.0.1:8080 --window 60 --interval 5\n  quill report httpd.conf --url http://127.0.0.1:8080 --record samples.jsonl\n  quill report httpd.conf --samples samples.jsonl --out report/ && xdg-open report/report.html\n  quill report /etc/apache2/apache2.conf --access-log /var/log/apache2/access.log --json"
    )]
    Report(cmd_report::ReportArgs),
    /// Run a WSGI application with no configuration, in the spirit of
    /// mod_wsgi-express: daemon processes with embedded Python behind an
    /// HTTP/1.1 front end. Without APP.wsgi, a built-in demo runs.
    #[command(
        after_help = "Examples:\n  quill express\n  quill express app.wsgi --port 8080 --processes 2 --threads 10\n  quill express app.wsgi --python-home .venv --url-alias /static ./static\n  quill express app.wsgi --print-config > httpd.conf && quill serve httpd.conf"
    )]
    Express(cmd_express::ExpressArgs),
    /// Run the server an Apache configuration describes: its
    /// WSGIDaemonProcess groups and a pool of front-end processes on its
    /// Listen sockets.
    /// Front-end children are forked and killed by the MPM's pool
    /// controller, as httpd does. Each request is answered by the
    /// virtual host httpd would choose (address and port, then Host), with
    /// its mounts and aliases; over TLS where `SSLEngine on` says so (the
    /// SNI name choosing the virtual host and its certificate) and HTTP/2
    /// where `Protocols h2` does. docs/express.md says what is not served
    /// yet.
    ///
    /// Exit status: 0 after a clean stop (SIGTERM/SIGINT), 1 when the
    /// configuration cannot be served, 2 when it cannot be read.
    Serve(cmd_serve::ServeArgs),
    /// Runs `quill-daemon` in this process's place (for scripts that start a
    /// daemon process by hand; the supervisor runs `quill-daemon` itself).
    #[command(name = "__daemon", hide = true)]
    Daemon {
        /// The daemon's settings, written by the supervisor.
        #[arg(long)]
        spec: std::path::PathBuf,
    },
    /// Generate reference documentation from the built-in definitions.
    #[command(hide = true)]
    Docs {
        /// Which document: `directives`.
        what: String,
    },
}

fn main() -> ExitCode {
    // The pool's maintenance ticks keep httpd's phase from here.
    let _ = quill_server::supervisor::PROCESS_START.set(std::time::Instant::now());
    // A front-end child reads its three arguments by hand: without clap's
    // command tree it touches less of this program (its idle RSS,
    // docs/benchmarks.md "Build profile and allocator").
    let args: Vec<_> = std::env::args_os().skip(1).collect();
    if let [role, rest @ ..] = args.as_slice()
        && role == quill_server::child::ROLE
    {
        let Some((spec, slot, generation)) = quill_server::child::parse_args(rest) else {
            eprintln!("usage: quill {}", quill_server::child::USAGE);
            return ExitCode::from(2);
        };
        let code = quill_server::child::run(&spec, slot, generation);
        return ExitCode::from(u8::try_from(code).unwrap_or(1));
    }
    let cli = Cli::parse();
    match cli.command {
        Command::Config(args) => cmd_config::run(&args),
        Command::Simulate(args) => cmd_simulate::run(&args),
        Command::Check(args) => cmd_check::run(&args),
        Command::Report(args) => cmd_report::run(&args),
        Command::Express(args) => cmd_express::run(&args),
        Command::Serve(args) => cmd_serve::run(&args),
        Command::Daemon { spec } => cmd_serve::exec_daemon(&spec),
        Command::Docs { what } => match what.as_str() {
            "directives" => {
                print!(
                    "{}",
                    quill_config::directives::directive_reference_markdown()
                );
                ExitCode::SUCCESS
            }
            other => {
                eprintln!("error: unknown document `{other}`; known: directives");
                ExitCode::from(2)
            }
        },
    }
}
