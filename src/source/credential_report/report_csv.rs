//! The credential report's CSV read into users: columns found by name, rows checked against
//! their ARN (a row read with its fields shifted cannot pass as another user's), and the
//! unquoted commas moto writes in user names repaired.

use std::collections::HashSet;

use crate::snapshot::{AccessKey, KeyStatus, User};

/// The report's name for the root user.
pub(super) const ROOT_ROW: &str = "<root_account>";

/// What the report says.
#[derive(Debug, PartialEq)]
pub(crate) struct ParsedReport {
    /// From the ARNs; `None` for a report with no rows.
    pub(crate) account_id: Option<String>,
    /// Every user row but root's.
    pub(crate) users: Vec<User>,
    /// From the `<root_account>` row; `None` when the report has none.
    pub(crate) root_access_keys_present: Option<bool>,
}

/// Parses the report's CSV. Columns are found by name, so their order and any added columns do
/// not matter; `N/A`, `not_supported` and `no_information` mean "no value".
pub(crate) fn parse(content: &[u8]) -> Result<ParsedReport, String> {
    let mut reader = csv::ReaderBuilder::new()
        .trim(csv::Trim::All)
        .flexible(true)
        .from_reader(content);
    let headers = reader
        .headers()
        .map_err(|err| format!("cannot read the header row: {err}"))?
        .clone();
    let columns = Columns::find(&headers)?;
    let mut parsed = ParsedReport {
        account_id: None,
        users: Vec::new(),
        root_access_keys_present: None,
    };
    let mut seen = HashSet::new();
    for (index, record) in reader.records().enumerate() {
        let line = index + 2;
        let record = record.map_err(|err| format!("line {line}: {err}"))?;
        let record = columns.repaired(record, line)?;
        let (name, path) = columns.user(&record, line, &mut parsed.account_id, &mut seen)?;
        let access_keys = columns.keys(&record, line)?;
        if name == ROOT_ROW {
            parsed.root_access_keys_present = Some(
                access_keys
                    .iter()
                    .any(|key| key.status == KeyStatus::Active),
            );
        } else {
            parsed.users.push(User {
                name,
                path,
                access_keys,
                exemptions: Vec::new(),
                creators: Default::default(),
            });
        }
    }
    // AWS's report always has the root user's row: one without any row was cut off.
    if seen.is_empty() {
        return Err("the report has no rows, not even the root user's: cut off?".to_owned());
    }
    Ok(parsed)
}

/// Where the columns the parser reads are.
struct Columns {
    /// How many the header row has.
    count: usize,
    user: usize,
    arn: usize,
    /// Per key slot: `active`, `last_rotated`, `last_used_date`.
    slots: [[usize; 3]; 2],
}

impl Columns {
    fn find(headers: &csv::StringRecord) -> Result<Self, String> {
        let column = |name: &str| {
            headers
                .iter()
                .position(|h| h == name)
                .ok_or_else(|| format!("the header row has no `{name}` column"))
        };
        let user = column("user")?;
        let arn = column("arn")?;
        let slots = [1, 2].map(|n| -> Result<[usize; 3], String> {
            Ok([
                column(&format!("access_key_{n}_active"))?,
                column(&format!("access_key_{n}_last_rotated"))?,
                column(&format!("access_key_{n}_last_used_date"))?,
            ])
        });
        let slots = [slots[0].clone()?, slots[1].clone()?];
        Ok(Columns {
            count: headers.len(),
            user,
            arn,
            slots,
        })
    }

    /// The record as the header row has it, with unquoted commas repaired.
    fn repaired(
        &self,
        record: csv::StringRecord,
        line: usize,
    ) -> Result<csv::StringRecord, String> {
        if record.len() == self.count {
            return Ok(record);
        }
        unquoted_commas(&record, self.count, self.user, self.arn).ok_or_else(|| {
            format!(
                "line {line}: {} fields where the header has {}",
                record.len(),
                self.count
            )
        })
    }

    /// The row's user name and path, checked: an ARN of the report's one account, a name
    /// and path IAM could have written, the name its ARN names, listed once.
    fn user(
        &self,
        record: &csv::StringRecord,
        line: usize,
        account: &mut Option<String>,
        seen: &mut HashSet<String>,
    ) -> Result<(String, String), String> {
        let field = |col: usize| record.get(col).unwrap_or("");
        let arn = field(self.arn);
        let (account_id, path) =
            parse_arn(arn).ok_or_else(|| format!("line {line}: `{arn}` is not a user ARN"))?;
        if account.get_or_insert_with(|| account_id.clone()) != &account_id {
            return Err(format!(
                "line {line}: a row of another account ({account_id})"
            ));
        }
        // The name is the ARN's last part: a row read with its fields shifted (extra fields, a
        // repair gone wrong) cannot pass as another user's, nor move a key to another slot.
        let name = field(self.user);
        if name != ROOT_ROW && (!crate::arn::is_user_name(name) || !crate::arn::is_path(&path)) {
            return Err(format!(
                "line {line}: a user name or path IAM could not have written ({:?})",
                crate::error::bounded(name, 80)
            ));
        }
        if name != ROOT_ROW && !arn.ends_with(&format!("/{name}")) {
            return Err(format!(
                "line {line}: the user `{}` is not the one its ARN names",
                crate::error::bounded(name, 64)
            ));
        }
        if !seen.insert(name.to_ascii_lowercase()) {
            return Err(format!(
                "line {line}: the user `{}` is listed twice",
                crate::error::bounded(name, 64)
            ));
        }
        Ok((name.to_owned(), path))
    }

    /// The row's key slots that hold a key, named `access_key_1` and `access_key_2`.
    fn keys(&self, record: &csv::StringRecord, line: usize) -> Result<Vec<AccessKey>, String> {
        let field = |col: usize| record.get(col).unwrap_or("");
        let mut access_keys = Vec::new();
        for (n, [active_col, rotated_col, used_col]) in self.slots.iter().enumerate() {
            let active = parse_bool(field(*active_col))
                .ok_or_else(|| format!("line {line}: bad boolean `{}`", field(*active_col)))?;
            let rotated = parse_time(field(*rotated_col))
                .map_err(|bad| format!("line {line}: bad time `{bad}`"))?;
            let last_used = parse_time(field(*used_col))
                .map_err(|bad| format!("line {line}: bad time `{bad}`"))?;
            // An inactive slot that never held a key has no rotation date.
            if active || rotated.is_some() {
                access_keys.push(AccessKey {
                    id: format!("access_key_{}", n + 1),
                    status: if active {
                        KeyStatus::Active
                    } else {
                        KeyStatus::Inactive
                    },
                    created: rotated.unwrap_or(0),
                    last_used,
                });
            }
        }
        Ok(access_keys)
    }
}

/// Repairs a row whose user name has commas but was written without quotes (moto does this;
/// IAM allows `,` in names). Only `user` and `arn`, the first two columns, can hold commas, and
/// every later column has a fixed width, so the split is unambiguous: the ARN starts at the
/// first field after the name that begins with `arn:`, and the last `expected - 2` fields are
/// the rest of the row.
fn unquoted_commas(
    record: &csv::StringRecord,
    expected: usize,
    user_col: usize,
    arn_col: usize,
) -> Option<csv::StringRecord> {
    if user_col != 0 || arn_col != 1 || record.len() < expected {
        return None;
    }
    let fields: Vec<&str> = record.iter().collect();
    let rest_start = fields.len() - (expected - 2);
    let arn_start = (1..rest_start).find(|&i| fields[i].starts_with("arn:"))?;
    let mut repaired = csv::StringRecord::new();
    repaired.push_field(&fields[..arn_start].join(","));
    repaired.push_field(&fields[arn_start..rest_start].join(","));
    for field in &fields[rest_start..] {
        repaired.push_field(field);
    }
    Some(repaired)
}

/// `arn:aws:iam::123456789012:user/division/name` → (`123456789012`, `/division/`);
/// the root row's `arn:aws:iam::123456789012:root` → (`123456789012`, `/`).
fn parse_arn(arn: &str) -> Option<(String, String)> {
    let (account, resource) = crate::arn::split_iam_arn(arn)?;
    if resource == "root" {
        return Some((account.to_owned(), "/".to_owned()));
    }
    let rest = resource.strip_prefix("user/")?;
    let path = match rest.rfind('/') {
        Some(end) => format!("/{}/", &rest[..end]),
        None => "/".to_owned(),
    };
    Some((account.to_owned(), path))
}

fn is_absent(value: &str) -> bool {
    value.is_empty()
        || value.eq_ignore_ascii_case("N/A")
        || value.eq_ignore_ascii_case("not_supported")
        || value.eq_ignore_ascii_case("no_information")
}

fn parse_bool(value: &str) -> Option<bool> {
    if is_absent(value) {
        Some(false)
    } else if value.eq_ignore_ascii_case("true") {
        Some(true)
    } else if value.eq_ignore_ascii_case("false") {
        Some(false)
    } else {
        None
    }
}

/// An ISO 8601 time as the report writes it (`2024-05-01T12:00:00+00:00`, also with `Z`,
/// fractions or another offset) in Unix seconds; `Ok(None)` for the "no value" markers.
fn parse_time(value: &str) -> Result<Option<i64>, String> {
    if is_absent(value) {
        return Ok(None);
    }
    crate::clock::parse_iso8601(value)
        .map(Some)
        .ok_or_else(|| value.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::parse_iso8601;

    const HEADER: &str = "user,arn,user_creation_time,password_enabled,password_last_used,password_last_changed,password_next_rotation,mfa_active,access_key_1_active,access_key_1_last_rotated,access_key_1_last_used_date,access_key_1_last_used_region,access_key_1_last_used_service,access_key_2_active,access_key_2_last_rotated,access_key_2_last_used_date,access_key_2_last_used_region,access_key_2_last_used_service,cert_1_active,cert_1_last_rotated,cert_2_active,cert_2_last_rotated";

    fn report(rows: &[&str]) -> Vec<u8> {
        let mut text = String::from(HEADER);
        for row in rows {
            text.push('\n');
            text.push_str(row);
        }
        text.into_bytes()
    }

    #[test]
    fn times_in_every_form_the_report_uses_are_parsed() {
        assert_eq!(parse_iso8601("1970-01-01T00:00:00+00:00"), Some(0));
        assert_eq!(parse_iso8601("2024-02-29T12:30:15Z"), Some(1_709_209_815));
        assert_eq!(
            parse_iso8601("2024-02-29T12:30:15.123+00:00"),
            Some(1_709_209_815)
        );
        assert_eq!(
            parse_iso8601("2024-02-29T14:30:15+02:00"),
            Some(1_709_209_815)
        );
        assert_eq!(
            parse_iso8601("2024-02-29T12:30:15-0100"),
            Some(1_709_213_415)
        );
        assert_eq!(parse_iso8601("2024-13-01T00:00:00Z"), None);
        assert_eq!(parse_iso8601("yesterday"), None);
        assert_eq!(parse_time("N/A"), Ok(None));
        assert_eq!(parse_time("no_information"), Ok(None));
        assert_eq!(parse_time("not_supported"), Ok(None));
    }

    #[test]
    fn booleans_are_read_in_either_case_and_markers_mean_false() {
        assert_eq!(parse_bool("TRUE"), Some(true));
        assert_eq!(parse_bool("true"), Some(true));
        assert_eq!(parse_bool("False"), Some(false));
        assert_eq!(parse_bool("N/A"), Some(false));
        assert_eq!(parse_bool("maybe"), None);
    }

    #[test]
    fn users_keys_paths_and_the_root_row_are_read() {
        let content = report(&[
            "<root_account>,arn:aws:iam::123456789012:root,2020-01-01T00:00:00+00:00,not_supported,2024-01-01T00:00:00+00:00,not_supported,not_supported,true,TRUE,2021-01-01T00:00:00+00:00,N/A,N/A,N/A,false,N/A,N/A,N/A,N/A,false,N/A,false,N/A",
            "alice,arn:aws:iam::123456789012:user/alice,2020-01-01T00:00:00+00:00,false,N/A,N/A,N/A,false,true,2024-01-01T00:00:00+00:00,2024-02-01T00:00:00+00:00,us-east-1,s3,true,2024-03-01T00:00:00+00:00,no_information,N/A,N/A,false,N/A,false,N/A",
            "bob+ops@x.y,arn:aws:iam::123456789012:user/eng/ops/bob+ops@x.y,2020-01-01T00:00:00+00:00,false,N/A,N/A,N/A,false,false,2023-01-01T00:00:00+00:00,N/A,N/A,N/A,false,N/A,N/A,N/A,N/A,false,N/A,false,N/A",
            "carol,arn:aws:iam::123456789012:user/carol,2020-01-01T00:00:00+00:00,false,N/A,N/A,N/A,false,false,N/A,N/A,N/A,N/A,false,N/A,N/A,N/A,N/A,false,N/A,false,N/A",
        ]);
        let parsed = parse(&content).unwrap();
        assert_eq!(parsed.account_id.as_deref(), Some("123456789012"));
        assert_eq!(parsed.root_access_keys_present, Some(true));
        assert_eq!(parsed.users.len(), 3);

        let alice = &parsed.users[0];
        assert_eq!(alice.path, "/");
        assert_eq!(alice.active_access_keys(), 2);
        assert_eq!(alice.access_keys[0].id, "access_key_1");
        assert_eq!(alice.access_keys[0].last_used, Some(1_706_745_600));
        assert_eq!(alice.access_keys[1].last_used, None);

        let bob = &parsed.users[1];
        assert_eq!(bob.name, "bob+ops@x.y");
        assert_eq!(bob.path, "/eng/ops/");
        assert_eq!(bob.active_access_keys(), 0);
        assert_eq!(
            bob.access_keys.len(),
            1,
            "an inactive key that exists is kept"
        );
        assert_eq!(bob.access_keys[0].status, KeyStatus::Inactive);

        assert!(parsed.users[2].access_keys.is_empty());
    }

    #[test]
    fn shifted_duplicated_or_foreign_rows_are_malformed() {
        let row = |name: &str, arn_name: &str| {
            format!("{name},arn:aws:iam::123456789012:user/{arn_name},2020-01-01T00:00:00+00:00,false,N/A,N/A,N/A,false,true,2024-01-01T00:00:00+00:00,N/A,N/A,N/A,true,2024-02-01T00:00:00+00:00,N/A,N/A,N/A,false,N/A,false,N/A")
        };
        // Two extra fields after the ARN: the repair would read them as part of the name's row.
        let extra = row("eve", "eve").replacen(",2020-01-01", ",x,y,2020-01-01", 1);
        assert!(parse(&report(&[&extra])).is_err(), "two extra fields");
        assert!(
            parse(&report(&[])).unwrap_err().contains("no rows"),
            "header only"
        );
        let twice = parse(&report(&[&row("eve", "eve"), &row("EVE", "EVE")])).unwrap_err();
        assert!(twice.contains("listed twice"), "{twice}");
        let mismatch = parse(&report(&[&row("eve", "mallory")])).unwrap_err();
        assert!(mismatch.contains("not the one its ARN names"), "{mismatch}");
        let foreign = row("bob", "bob").replace("123456789012", "210987654321");
        let mixed = parse(&report(&[&row("eve", "eve"), &foreign])).unwrap_err();
        assert!(mixed.contains("another account"), "{mixed}");
    }

    #[test]
    fn a_report_without_a_root_row_leaves_root_unknown() {
        let content = report(&[
            "dave,arn:aws:iam::123456789012:user/dave,2020-01-01T00:00:00+00:00,false,N/A,N/A,N/A,false,true,2024-01-01T00:00:00+00:00,N/A,N/A,N/A,false,N/A,N/A,N/A,N/A,false,N/A,false,N/A",
        ]);
        let parsed = parse(&content).unwrap();
        assert_eq!(parsed.root_access_keys_present, None);
    }

    #[test]
    fn unquoted_commas_in_user_names_are_repaired() {
        let content = report(&[
            "a,b=c,arn:aws:iam::123456789012:user/x,y/a,b=c,2020-01-01T00:00:00+00:00,false,N/A,N/A,N/A,false,true,2024-01-01T00:00:00+00:00,N/A,N/A,N/A,true,2024-02-01T00:00:00+00:00,N/A,N/A,N/A,false,N/A,false,N/A",
            "\"q,uoted\",\"arn:aws:iam::123456789012:user/q,uoted\",2020-01-01T00:00:00+00:00,false,N/A,N/A,N/A,false,false,N/A,N/A,N/A,N/A,false,N/A,N/A,N/A,N/A,false,N/A,false,N/A",
        ]);
        let parsed = parse(&content).unwrap();
        assert_eq!(parsed.users[0].name, "a,b=c");
        assert_eq!(parsed.users[0].path, "/x,y/");
        assert_eq!(parsed.users[0].active_access_keys(), 2);
        assert_eq!(parsed.users[1].name, "q,uoted");
        let short = parse(&report(&["x,arn:aws:iam::123456789012:user/x,1"])).unwrap_err();
        assert!(
            short.contains("3 fields where the header has 22"),
            "{short}"
        );
    }

    #[test]
    fn columns_are_found_by_name_not_position() {
        let content = b"access_key_2_last_used_date,access_key_2_last_rotated,access_key_2_active,access_key_1_last_used_date,access_key_1_last_rotated,access_key_1_active,arn,user,extra\nN/A,N/A,false,N/A,2024-01-01T00:00:00+00:00,true,arn:aws:iam::123456789012:user/eve,eve,x\n";
        let parsed = parse(content).unwrap();
        assert_eq!(parsed.users[0].name, "eve");
        assert_eq!(parsed.users[0].active_access_keys(), 1);
    }

    #[test]
    fn malformed_reports_are_errors_that_say_where() {
        let missing_column = parse(b"user,arn\nx,arn:aws:iam::1:user/x\n").unwrap_err();
        assert!(
            missing_column.contains("access_key_1_active"),
            "{missing_column}"
        );
        let bad_time = parse(&report(&[
            "f,arn:aws:iam::123456789012:user/f,x,false,N/A,N/A,N/A,false,true,soon,N/A,N/A,N/A,false,N/A,N/A,N/A,N/A,false,N/A,false,N/A",
        ]))
        .unwrap_err();
        assert!(
            bad_time.contains("line 2") && bad_time.contains("soon"),
            "{bad_time}"
        );
        let bad_arn = parse(&report(&[
            "g,not-an-arn,x,false,N/A,N/A,N/A,false,true,N/A,N/A,N/A,N/A,false,N/A,N/A,N/A,N/A,false,N/A,false,N/A",
        ]))
        .unwrap_err();
        assert!(bad_arn.contains("not-an-arn"), "{bad_arn}");
    }
}
