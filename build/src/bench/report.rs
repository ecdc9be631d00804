//! What a run measured, as a table, Markdown and JSON, and the change since an earlier run.

use super::stats::{ratio, Stats};
use super::workload::describe;
use anyhow::{anyhow, Result};
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::fmt::Write as _;

/// A figure measured on both sides.
#[derive(Debug, Clone)]
pub struct Figure {
    pub name: String,
    pub group: String,
    pub unit: String,
    pub guest: Option<Stats>,
    pub native: Option<Stats>,
    /// Why there is no native figure, if there is none.
    pub native_note: Option<String>,
}

impl Figure {
    pub fn ratio(&self) -> Option<f64> {
        ratio(self.guest.as_ref()?, self.native.as_ref()?)
    }
}

/// A size in bytes, raw and gzip'd, and the native counterpart where there is one.
#[derive(Debug, Clone, PartialEq)]
pub struct Size {
    pub name: String,
    pub raw: u64,
    pub gzip: u64,
    pub native: Option<(u64, u64)>,
}

/// Everything one run measured.
pub struct Report {
    pub meta: Value,
    pub figures: Vec<Figure>,
    pub sizes: Vec<Size>,
}

/// `1234.5` → `1234`, `12.345` → `12.3`, `1.2345` → `1.23`: three significant digits or so.
pub fn num(v: f64) -> String {
    let a = v.abs();
    if a >= 100.0 {
        format!("{v:.0}")
    } else if a >= 10.0 {
        format!("{v:.1}")
    } else if a >= 0.1 || a == 0.0 {
        format!("{v:.2}")
    } else {
        format!("{v:.3}")
    }
}

/// `median [min–max]`.
fn cell(s: &Option<Stats>) -> String {
    match s {
        Some(s) if s.samples.len() > 1 => {
            format!("{} [{}–{}]", num(s.median), num(s.min), num(s.max))
        }
        Some(s) => num(s.median),
        None => "–".into(),
    }
}

/// Bytes as KiB/MiB with one decimal.
pub fn bytes(n: u64) -> String {
    if n >= 1 << 20 {
        format!("{:.2} MiB", n as f64 / (1u64 << 20) as f64)
    } else {
        format!("{:.1} KiB", n as f64 / 1024.0)
    }
}

/// Lays out rows as columns: the first row is the header, `right` says which columns are
/// right-aligned. Widths count characters, not bytes.
pub fn columns(rows: &[Vec<String>], right: &[bool]) -> String {
    let ncol = rows.iter().map(Vec::len).max().unwrap_or(0);
    let mut width = vec![0; ncol];
    for r in rows {
        for (i, c) in r.iter().enumerate() {
            width[i] = width[i].max(c.chars().count());
        }
    }
    let mut out = String::new();
    for (n, r) in rows.iter().enumerate() {
        let mut line = String::new();
        for (i, c) in r.iter().enumerate() {
            let pad = width[i] - c.chars().count();
            if i > 0 {
                line.push_str("  ");
            }
            if right.get(i).copied().unwrap_or(false) {
                line.push_str(&" ".repeat(pad));
                line.push_str(c);
            } else {
                line.push_str(c);
                line.push_str(&" ".repeat(pad));
            }
        }
        out.push_str(line.trim_end());
        out.push('\n');
        if n == 0 {
            let total = width.iter().sum::<usize>() + 2 * ncol.saturating_sub(1);
            out.push_str(&"-".repeat(total));
            out.push('\n');
        }
    }
    out
}

fn ratio_cell(r: Option<f64>) -> String {
    match r {
        Some(r) => format!("{}×", num(r)),
        None => "–".into(),
    }
}

impl Report {
    /// The plain-text table printed at the end.
    pub fn table(&self) -> String {
        let mut rows = vec![vec![
            "figure".to_string(),
            "unit".into(),
            "Alpenglow median [min–max]".into(),
            "native median [min–max]".into(),
            "ratio".into(),
            "what".into(),
        ]];
        for f in &self.figures {
            let native = match (&f.native, &f.native_note) {
                (None, Some(note)) => note.clone(),
                _ => cell(&f.native),
            };
            rows.push(vec![
                format!("{}/{}", f.group, f.name),
                f.unit.clone(),
                cell(&f.guest),
                native,
                ratio_cell(f.ratio()),
                describe(&f.name).to_string(),
            ]);
        }
        let mut out = columns(&rows, &[false, false, true, true, true, false]);
        out.push('\n');
        let mut rows = vec![vec![
            "artifact".to_string(),
            "size".into(),
            "gzip".into(),
            "native size".into(),
            "native gzip".into(),
            "ratio (raw)".into(),
        ]];
        for s in &self.sizes {
            let (nr, ng, r) = match s.native {
                Some((r, g)) => (
                    bytes(r),
                    bytes(g),
                    ratio_cell(Some(s.raw as f64 / r as f64)),
                ),
                None => ("–".into(), "–".into(), "–".into()),
            };
            rows.push(vec![s.name.clone(), bytes(s.raw), bytes(s.gzip), nr, ng, r]);
        }
        out.push_str(&columns(&rows, &[false, true, true, true, true, true]));
        out
    }

    /// The same as a Markdown document.
    pub fn markdown(&self) -> String {
        let mut out = String::from("# Alpenglow benchmark\n\n");
        for (k, v) in self.meta.as_object().into_iter().flatten() {
            let v = match v {
                Value::String(s) => s.clone(),
                other => other.to_string(),
            };
            let _ = writeln!(out, "- {k}: {v}");
        }
        out.push_str(
            "\nTimes: median [min–max] over the repetitions; ratio = Alpenglow / native \
             (above 1: Alpenglow is slower). Boot figures are ms from navigation start.\n\n",
        );
        out.push_str("| figure | unit | Alpenglow | native | ratio | what |\n");
        out.push_str("| --- | --- | ---: | ---: | ---: | --- |\n");
        for f in &self.figures {
            let native = match (&f.native, &f.native_note) {
                (None, Some(note)) => note.clone(),
                _ => cell(&f.native),
            };
            let _ = writeln!(
                out,
                "| {}/{} | {} | {} | {} | {} | {} |",
                f.group,
                f.name,
                f.unit,
                cell(&f.guest),
                native,
                ratio_cell(f.ratio()),
                describe(&f.name)
            );
        }
        out.push_str("\n| artifact | size | gzip | native size | native gzip |\n");
        out.push_str("| --- | ---: | ---: | ---: | ---: |\n");
        for s in &self.sizes {
            let (nr, ng) = match s.native {
                Some((r, g)) => (bytes(r), bytes(g)),
                None => ("–".into(), "–".into()),
            };
            let _ = writeln!(
                out,
                "| {} | {} | {} | {nr} | {ng} |",
                s.name,
                bytes(s.raw),
                bytes(s.gzip)
            );
        }
        out
    }

    pub fn to_json(&self) -> Value {
        let opt = |s: &Option<Stats>| s.as_ref().map_or(Value::Null, Stats::to_json);
        json!({
            "schema": 1,
            "meta": self.meta,
            "figures": self.figures.iter().map(|f| json!({
                "name": f.name, "group": f.group, "unit": f.unit,
                "guest": opt(&f.guest), "native": opt(&f.native),
                "native_note": f.native_note, "ratio": f.ratio(),
            })).collect::<Vec<_>>(),
            "sizes": self.sizes.iter().map(|s| json!({
                "name": s.name, "raw": s.raw, "gzip": s.gzip,
                "native_raw": s.native.map(|n| n.0), "native_gzip": s.native.map(|n| n.1),
            })).collect::<Vec<_>>(),
        })
    }
}

/// The change from an earlier result file: per figure in both, old and new medians.
pub fn compare(old: &Value, new: &Value) -> Result<String> {
    let figures = |v: &Value| -> Result<Vec<(String, Value)>> {
        let list = v["figures"]
            .as_array()
            .ok_or_else(|| anyhow!("not a `cargo x bench` result file (no figures)"))?;
        Ok(list
            .iter()
            .filter_map(|f| {
                Some((
                    format!("{}/{}", f["group"].as_str()?, f["name"].as_str()?),
                    f.clone(),
                ))
            })
            .collect())
    };
    let (old_f, new_f) = (figures(old)?, figures(new)?);
    let old_f: BTreeMap<String, Value> = old_f.into_iter().collect();
    let med = |f: &Value, side: &str| f[side]["median"].as_f64();
    let change = |a: Option<f64>, b: Option<f64>| match (a, b) {
        (Some(a), Some(b)) if a > 0.0 => format!("{:+.1}%", (b - a) / a * 100.0),
        _ => "–".into(),
    };
    let show = |v: Option<f64>| v.map_or("–".into(), num);
    let mut rows = vec![vec![
        "figure".to_string(),
        "Alpenglow before".into(),
        "after".into(),
        "change".into(),
        "ratio before".into(),
        "after".into(),
    ]];
    for (name, n) in &new_f {
        let Some(o) = old_f.get(name) else { continue };
        let (a, b) = (med(o, "guest"), med(n, "guest"));
        rows.push(vec![
            name.clone(),
            show(a),
            show(b),
            change(a, b),
            o["ratio"]
                .as_f64()
                .map_or("–".into(), |r| format!("{}×", num(r))),
            n["ratio"]
                .as_f64()
                .map_or("–".into(), |r| format!("{}×", num(r))),
        ]);
    }
    let mut out = String::new();
    if old["meta"]["quick"] != new["meta"]["quick"] {
        out.push_str("note: one of the runs is --quick; the workloads differ in size\n");
    }
    out.push_str(&columns(&rows, &[false, true, true, true, true, true]));
    Ok(out)
}
