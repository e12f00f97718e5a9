//! `tailings-atlas token create|list|revoke`: the API tokens kept in the store.

use std::process::ExitCode;

use super::{Sources, TokenAction, fail};

pub(super) fn run(action: TokenAction, sources: &Sources) -> ExitCode {
    use tailings_atlas::store::Role;
    let store = match tailings_atlas::service::open_store(&sources.store, &sources.data) {
        Ok(s) => s,
        Err(e) => return fail(e),
    };
    match action {
        TokenAction::Create {
            role,
            countries,
            name,
        } => {
            let role: Role = match role.parse() {
                Ok(r) => r,
                Err(e) => return fail(format!("--role: {e}")),
            };
            // The rules (an editor needs countries, other roles none, a name) are the token's own.
            let (record, text) = match tailings_atlas::auth::new_token(&name, role, &countries) {
                Ok(t) => t,
                Err(e) => return fail(e),
            };
            if let Err(e) = store.add_token(&record) {
                return fail(e);
            }
            eprintln!(
                "created token {} ({}{}) for {:?}; it is shown only now:",
                record.token_id,
                role.as_str(),
                if record.countries.is_empty() {
                    String::new()
                } else {
                    format!(": {}", countries_text(&record.countries))
                },
                record.name
            );
            println!("{text}");
            ExitCode::SUCCESS
        }
        TokenAction::List => match store.tokens() {
            Ok(tokens) => {
                println!("id\trole\tcountries\tname\tcreated\trevoked");
                for t in tokens {
                    println!(
                        "{}\t{}\t{}\t{}\t{}\t{}",
                        t.token_id,
                        t.role.as_str(),
                        countries_text(&t.countries),
                        t.name,
                        t.created_at,
                        t.revoked_at.as_deref().unwrap_or("-")
                    );
                }
                ExitCode::SUCCESS
            }
            Err(e) => fail(e),
        },
        TokenAction::Revoke { id } => match store.revoke_token(id.trim()) {
            Ok(true) => {
                eprintln!("revoked token {id}");
                ExitCode::SUCCESS
            }
            Ok(false) => fail(format!("no active token {id:?} (see `token list`)")),
            Err(e) => fail(e),
        },
    }
}

fn countries_text(countries: &[tailings_atlas::model::Iso3]) -> String {
    let codes: Vec<&str> = countries.iter().map(|c| c.as_str()).collect();
    codes.join(",")
}
