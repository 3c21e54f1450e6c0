//! A minimal driver of the bundle library (until the CLI is wired), used for benchmarks and by
//! hand: `keygen PREFIX`, `create KIND SOURCE KEY OUT CREATED INPUT...`, `verify FILE PUB...`,
//! `inspect FILE`.

use std::path::PathBuf;
use std::process::ExitCode;

use stella_bundle::bundle::*;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match run(&args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::from(e.exit_code() as u8)
        }
    }
}

fn run(args: &[String]) -> Result<(), BundleError> {
    let usage = || {
        BundleError::Usage("usage: keygen PREFIX | create KIND SOURCE KEY OUT CREATED INPUT... | verify FILE PUB... | inspect FILE".into())
    };
    match args.first().map(String::as_str) {
        Some("keygen") if args.len() == 2 => {
            let k = keygen(&PathBuf::from(&args[1]))?;
            println!("{}", k.keyid);
        }
        Some("create") if args.len() >= 7 => {
            let kind: Kind = args[1].parse().map_err(BundleError::Usage)?;
            let key = PrivateKey::load(&PathBuf::from(&args[3]))?;
            let mut o = CreateOptions::new(
                kind,
                &args[2],
                &key,
                &args[4],
                args[6..].iter().map(PathBuf::from).collect(),
            );
            o.created = Some(parse_created(&args[5])?);
            let c = create(&o)?;
            println!(
                "{} {} {}",
                c.path.display(),
                c.sha256,
                c.statement.subject.len()
            );
        }
        Some("verify") if args.len() >= 3 => {
            let mut trust = TrustSet::new();
            for p in &args[2..] {
                trust.add_file(&PathBuf::from(p))?;
            }
            let v = verify_file(&PathBuf::from(&args[1]), &trust, &Limits::default())?;
            println!(
                "OK {} {} entries sha256={} signer={}",
                v.path().display(),
                v.entries().len(),
                v.sha256(),
                v.keyid()
            );
        }
        Some("inspect") if args.len() == 2 => {
            let i = inspect(&PathBuf::from(&args[1]), None, &Limits::default())?;
            for s in &i.signers {
                println!("signer {} trusted={}", s.keyid, s.trusted);
            }
            for e in &i.entries {
                println!("{:>12} {} ({})", e.size, e.name, e.kind);
            }
        }
        _ => return Err(usage()),
    }
    Ok(())
}
