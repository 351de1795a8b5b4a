//! Local corpora: BM25 ranking and tie order on a hand-built corpus, the
//! on-disk index reused until the corpus file changes, and the errors a bad
//! corpus gives (file and line named).

use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use simba_run::ir::{DataFile, LocalCorpus};
use simba_run::retrieve::local::MANIFEST;
use simba_run::retrieve::{LocalIndex, Opened};

fn write_rows(path: &Path, rows: &[(&str, &str)]) {
    let lines: Vec<String> = rows
        .iter()
        .map(|(title, text)| serde_json::json!({"title": title, "text": text}).to_string())
        .collect();
    std::fs::write(path, lines.join("\n") + "\n").unwrap();
}

/// Rows 0 and 4 are the same text: they tie on every query.
const ROWS: [(&str, &str); 5] = [
    ("Mat", "the cat sat on the mat"),
    ("Dogs", "dogs chase cats"),
    ("Cats", "a cat and a cat and another cat"),
    ("Markets", "stock markets fell"),
    ("Mat again", "the cat sat on the mat"),
];

fn corpus(dir: &Path, title: bool) -> LocalCorpus {
    let file = dir.join("docs.jsonl");
    if !file.exists() {
        write_rows(&file, &ROWS);
    }
    let mut c = LocalCorpus::new(DataFile::Jsonl(file));
    if title {
        c.title = Some("title".into());
    }
    c
}

fn open(c: &LocalCorpus, index: Option<&Path>) -> Opened {
    LocalIndex::open("wiki", c, index).unwrap_or_else(|e| panic!("{e}"))
}

fn texts(index: &LocalIndex, query: &str, k: usize) -> Vec<String> {
    index.search(query, k).unwrap()
}

#[test]
fn bm25_ranks_by_term_weight_and_breaks_ties_by_row() {
    let dir = tempfile::tempdir().unwrap();
    let opened = open(&corpus(dir.path(), false), None);
    assert!(opened.built);
    let index = &opened.index;
    assert_eq!(index.len(), 5);
    // Three mentions beat one, though the passage is longer; the two
    // one-mention rows tie and come in file order. `cats` is another word.
    assert_eq!(
        texts(index, "cat", 3),
        [ROWS[2].1, ROWS[0].1, ROWS[4].1].map(String::from)
    );
    // k cuts the list; a rarer word outweighs a common one.
    assert_eq!(texts(index, "cat", 1), [ROWS[2].1.to_string()]);
    assert_eq!(texts(index, "mat cats", 2)[0], ROWS[1].1);
    // Equal scores on two rare words: file order.
    assert_eq!(
        texts(index, "Dogs? MARKETS!", 5),
        [ROWS[1].1, ROWS[3].1].map(String::from)
    );
    assert!(texts(index, "zebra", 3).is_empty());
    assert!(texts(index, "  ?! ", 3).is_empty());
}

#[test]
fn a_title_field_is_returned_before_the_text() {
    let dir = tempfile::tempdir().unwrap();
    let opened = open(&corpus(dir.path(), true), None);
    assert_eq!(
        texts(&opened.index, "stock", 1),
        ["Markets | stock markets fell"]
    );
    // The title is searched too.
    assert_eq!(
        texts(&opened.index, "again", 1),
        ["Mat again | the cat sat on the mat"]
    );
}

fn manifest_stamp(index: &Path) -> (u64, i64, i64) {
    let m = std::fs::metadata(index.join(MANIFEST)).unwrap();
    (m.ino(), m.mtime(), m.mtime_nsec())
}

#[test]
fn the_index_is_reused_until_the_corpus_file_changes() {
    let dir = tempfile::tempdir().unwrap();
    let index_dir: PathBuf = dir.path().join("cache/index/wiki");
    let c = corpus(dir.path(), false);
    let first = open(&c, Some(&index_dir));
    assert!(first.built, "a missing index is built");
    let hash = first.index.content_hash().to_string();
    let stamp = manifest_stamp(&index_dir);
    drop(first);

    let second = open(&c, Some(&index_dir));
    assert!(!second.built, "an index of the same file is reused");
    assert_eq!(manifest_stamp(&index_dir), stamp, "nothing was rewritten");
    assert_eq!(texts(&second.index, "stock", 1), [ROWS[3].1.to_string()]);
    drop(second);

    // Same bytes written again (a new mtime): still reused, by content.
    write_rows(&dir.path().join("docs.jsonl"), &ROWS);
    assert!(!open(&c, Some(&index_dir)).built);

    // Another passage: rebuilt, and it is found.
    let mut rows = ROWS.to_vec();
    rows.push(("Zebra", "a zebra crossing"));
    write_rows(&dir.path().join("docs.jsonl"), &rows);
    let third = open(&c, Some(&index_dir));
    assert!(third.built, "a changed file rebuilds the index");
    assert_ne!(third.index.content_hash(), hash);
    assert_ne!(manifest_stamp(&index_dir), stamp);
    assert_eq!(texts(&third.index, "zebra", 1), ["a zebra crossing"]);
    drop(third);

    // Another text field is another index.
    let mut titled = c.clone();
    titled.title = Some("title".into());
    assert!(open(&titled, Some(&index_dir)).built);
    // No building leftovers beside the index.
    let leftovers: Vec<_> = std::fs::read_dir(index_dir.parent().unwrap())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(leftovers, ["wiki"]);
}

#[test]
fn a_folder_that_is_not_an_index_is_never_replaced() {
    let dir = tempfile::tempdir().unwrap();
    let precious = dir.path().join("data");
    std::fs::create_dir_all(&precious).unwrap();
    std::fs::write(precious.join("keep.txt"), "mine").unwrap();
    let err = LocalIndex::open("wiki", &corpus(dir.path(), false), Some(&precious))
        .err()
        .expect("refused");
    let msg = err.to_string();
    assert!(msg.starts_with("corpus `wiki`: the index folder"), "{msg}");
    assert!(msg.contains("is not a simba-run index"), "{msg}");
    assert_eq!(
        std::fs::read_to_string(precious.join("keep.txt")).unwrap(),
        "mine"
    );
}

#[test]
fn bad_corpus_files_name_the_file_and_line() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("docs.jsonl");
    std::fs::write(&file, "{\"text\": \"fine\"}\n{\"body\": \"no text\"}\n").unwrap();
    let c = LocalCorpus::new(DataFile::Jsonl(file.clone()));
    let msg = LocalIndex::open("wiki", &c, None)
        .err()
        .unwrap()
        .to_string();
    assert!(msg.starts_with("corpus `wiki`: "), "{msg}");
    assert!(msg.contains(&format!("{}:2:", file.display())), "{msg}");
    assert!(msg.contains("`text`"), "{msg}");

    std::fs::write(&file, "{\"text\": 42}\n").unwrap();
    let msg = LocalIndex::open("wiki", &c, None)
        .err()
        .unwrap()
        .to_string();
    assert!(msg.contains(&format!("{}:1:", file.display())), "{msg}");

    std::fs::write(&file, "\n").unwrap();
    let msg = LocalIndex::open("wiki", &c, None)
        .err()
        .unwrap()
        .to_string();
    assert!(msg.ends_with("holds no passages"), "{msg}");

    let missing = LocalCorpus::new(DataFile::Jsonl(dir.path().join("nope.jsonl")));
    let msg = LocalIndex::open("wiki", &missing, None)
        .err()
        .unwrap()
        .to_string();
    assert!(
        msg.contains("cannot read") && msg.contains("nope.jsonl"),
        "{msg}"
    );
}

#[test]
fn csv_corpora_work_like_jsonl() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("docs.csv");
    std::fs::write(
        &file,
        "title,text\nOne,first passage here\nTwo,second passage\n",
    )
    .unwrap();
    let mut c = LocalCorpus::new(DataFile::Csv(file));
    c.title = Some("title".into());
    let opened = open(&c, None);
    assert_eq!(texts(&opened.index, "second", 2), ["Two | second passage"]);
}
