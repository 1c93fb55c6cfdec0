//! The check behind the frame tables of `fixtures.rs` and `simex_fixtures.rs`: each row names a
//! real frame from a fixture and the category the analyzer must give it.

use profile_tools::categories::{classify, Category, FrameClass};
use profile_tools::Profile;

/// One row: fixture file, frame name as it occurs there, expected category.
pub type Row = (&'static str, &'static str, Category);

/// Asserts every frame occurs in its fixture; returns the rows classified otherwise than
/// expected, one line each, so a test can show all of them at once.
pub fn misclassified(table: &[Row], load: impl Fn(&str) -> Profile) -> Vec<String> {
    let mut wrong = Vec::new();
    for (fixture, frame, category) in table {
        let p = load(fixture);
        assert!(
            p.frame_names.iter().any(|n| n == frame),
            "{frame:?} does not occur in {fixture}"
        );
        let got = classify(frame);
        if got != FrameClass::Work(*category) {
            wrong.push(format!("{frame}: expected {category:?}, got {got:?}"));
        }
    }
    wrong
}
