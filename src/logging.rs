//! Redis-style log lines through `tracing`:
//! `<pid>:M 22 Nov 2026 03:55:20.123 * message` (`*` info, `#` warn/error, `-` debug,
//! `.` trace), to stdout or to `logfile`. The letter after the pid is the role
//! (`ferrokv_server::log_role`: `M` primary, `S` replica, `C` fork child).

use std::fmt;
use std::io::Write;

use ferrokv_server::config::Config;
use tracing::{Event, Level, Subscriber};
use tracing_subscriber::fmt::format::Writer;
use tracing_subscriber::fmt::{FmtContext, FormatEvent, FormatFields};
use tracing_subscriber::registry::LookupSpan;
use tracing_subscriber::EnvFilter;

struct RedisFormat;

impl<S, N> FormatEvent<S, N> for RedisFormat
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    N: for<'a> FormatFields<'a> + 'static,
{
    fn format_event(
        &self,
        ctx: &FmtContext<'_, S, N>,
        mut w: Writer<'_>,
        event: &Event<'_>,
    ) -> fmt::Result {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap_or_default();
        let (date, time) = civil(now.as_secs() as i64);
        let mark = match *event.metadata().level() {
            Level::ERROR | Level::WARN => '#',
            Level::INFO => '*',
            Level::DEBUG => '-',
            Level::TRACE => '.',
        };
        write!(
            w,
            "{}:{} {} {}.{:03} {} ",
            std::process::id(),
            ferrokv_server::log_role::letter(),
            date,
            time,
            now.subsec_millis(),
            mark
        )?;
        ctx.field_format().format_fields(w.by_ref(), event)?;
        writeln!(w)
    }
}

/// "22 Nov 2026" and "03:55:20" in UTC from Unix seconds.
fn civil(secs: i64) -> (String, String) {
    let days = secs.div_euclid(86_400);
    let rem = secs.rem_euclid(86_400);
    // Howard Hinnant's days-to-civil algorithm.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    (
        format!("{d:02} {} {y}", MONTHS[(m - 1) as usize]),
        format!("{:02}:{:02}:{:02}", rem / 3600, rem % 3600 / 60, rem % 60),
    )
}

pub fn init(cfg: &Config) -> anyhow::Result<()> {
    let level = match cfg.loglevel.as_str() {
        "debug" => "debug",
        "verbose" => "info",
        "warning" => "warn",
        _ => "info",
    };
    let filter = EnvFilter::try_from_env("FERROKV_LOG").unwrap_or_else(|_| EnvFilter::new(level));
    let builder = tracing_subscriber::fmt()
        .event_format(RedisFormat)
        .with_env_filter(filter);
    if cfg.logfile.is_empty() {
        builder.with_writer(std::io::stdout).init();
    } else {
        let file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&cfg.logfile)?;
        let file = std::sync::Mutex::new(file);
        builder
            .with_writer(move || -> Box<dyn Write> {
                match file.lock() {
                    Ok(f) => Box::new(
                        f.try_clone()
                            .map(|f| Box::new(f) as Box<dyn Write>)
                            .unwrap_or_else(|_| Box::new(std::io::sink())),
                    ),
                    Err(_) => Box::new(std::io::sink()),
                }
            })
            .init();
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    #[test]
    fn civil_dates() {
        assert_eq!(super::civil(0), ("01 Jan 1970".into(), "00:00:00".into()));
        assert_eq!(
            super::civil(1_795_320_337),
            ("22 Nov 2026".into(), "04:05:37".into())
        );
    }
}
