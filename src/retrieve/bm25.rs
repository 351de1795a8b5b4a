//! The BM25 index of a local corpus, through tantivy: built once into a
//! folder (or memory), opened read-only afterwards, searched in-process.
//!
//! The tie order is fixed: tantivy breaks equal scores by ascending
//! document address, and the index is one segment whose documents are in
//! corpus-row order (one indexing thread, no merges while building; should
//! the writer ever flush several segments, they are merged by the `row`
//! field the index is sorted on). So equal scores rank in file order, on
//! every machine and after every rebuild.

use std::path::Path;

use tantivy::collector::TopDocs;
use tantivy::indexer::NoMergePolicy;
use tantivy::query::{BooleanQuery, Occur, Query, TermQuery};
use tantivy::schema::{
    FAST, Field, IndexRecordOption, STORED, Schema, TextFieldIndexing, TextOptions, Value,
};
use tantivy::tokenizer::TokenStream;
use tantivy::{
    Index, IndexReader, IndexSettings, IndexSortByField, IndexWriter, Order, ReloadPolicy,
    TantivyDocument, Term,
};

/// The searched (and stored) passage text.
const TEXT: &str = "text";
/// The passage's row in the corpus file: the tie-breaking order.
const ROW: &str = "row";
/// The indexing memory budget: enough for one segment of a large corpus
/// (memory is taken as needed, not up front).
const WRITER_BUDGET: usize = 1 << 30;

/// An opened index.
pub(super) struct Bm25 {
    text: Field,
    reader: IndexReader,
    /// Analyses queries exactly as passages were analysed.
    index: Index,
}

fn schema() -> (Schema, Field, Field) {
    let mut b = Schema::builder();
    // Frequencies are all BM25 needs: no positions (no phrase queries).
    let indexing = TextFieldIndexing::default()
        .set_tokenizer("default")
        .set_index_option(IndexRecordOption::WithFreqs);
    let text = b.add_text_field(
        TEXT,
        TextOptions::default().set_indexing_options(indexing) | STORED,
    );
    let row = b.add_u64_field(ROW, FAST);
    (b.build(), text, row)
}

fn err(e: impl std::fmt::Display) -> String {
    e.to_string()
}

impl Bm25 {
    /// Indexes `passages` (in order) into the empty folder `dir`, or in
    /// memory when `dir` is `None`.
    pub fn build(passages: &[String], dir: Option<&Path>) -> Result<Bm25, String> {
        let (schema, text, row) = schema();
        let settings = IndexSettings {
            sort_by_field: Some(IndexSortByField {
                field: ROW.into(),
                order: Order::Asc,
            }),
            ..IndexSettings::default()
        };
        let builder = Index::builder().schema(schema).settings(settings);
        let index = match dir {
            Some(dir) => builder.create_in_dir(dir).map_err(err)?,
            None => builder.create_in_ram().map_err(err)?,
        };
        let mut writer: IndexWriter = index
            .writer_with_num_threads(1, WRITER_BUDGET)
            .map_err(err)?;
        writer.set_merge_policy(Box::new(NoMergePolicy));
        for (i, p) in passages.iter().enumerate() {
            let mut doc = TantivyDocument::default();
            doc.add_text(text, p);
            doc.add_u64(row, i as u64);
            writer.add_document(doc).map_err(err)?;
        }
        writer.commit().map_err(err)?;
        let segments = index.searchable_segment_ids().map_err(err)?;
        if segments.len() > 1 {
            writer.merge(&segments).wait().map_err(err)?;
        }
        writer.wait_merging_threads().map_err(err)?;
        Self::from_index(index)
    }

    /// Opens the index in `dir`.
    pub fn open(dir: &Path) -> Result<Bm25, String> {
        Self::from_index(Index::open_in_dir(dir).map_err(err)?)
    }

    fn from_index(index: Index) -> Result<Bm25, String> {
        let text = index.schema().get_field(TEXT).map_err(err)?;
        let reader = index
            .reader_builder()
            .reload_policy(ReloadPolicy::Manual)
            .try_into()
            .map_err(err)?;
        Ok(Bm25 {
            text,
            reader,
            index,
        })
    }

    /// How many passages the index holds.
    pub fn len(&self) -> u64 {
        self.reader.searcher().num_docs()
    }

    /// The `k` best passages for `query`, best first; none when no word of
    /// the query is in the corpus.
    pub fn search(&self, query: &str, k: usize) -> Result<Vec<String>, String> {
        let mut analyzer = self.index.tokenizer_for_field(self.text).map_err(err)?;
        let mut words: Vec<String> = Vec::new();
        let mut stream = analyzer.token_stream(query);
        while stream.advance() {
            let w = &stream.token().text;
            if !words.contains(w) {
                words.push(w.clone());
            }
        }
        if words.is_empty() || k == 0 {
            return Ok(Vec::new());
        }
        let clauses: Vec<(Occur, Box<dyn Query>)> = words
            .iter()
            .map(|w| {
                let term = Term::from_field_text(self.text, w);
                let q: Box<dyn Query> =
                    Box::new(TermQuery::new(term, IndexRecordOption::WithFreqs));
                (Occur::Should, q)
            })
            .collect();
        let searcher = self.reader.searcher();
        let hits = searcher
            .search(
                &BooleanQuery::new(clauses),
                &TopDocs::with_limit(k).order_by_score(),
            )
            .map_err(err)?;
        hits.into_iter()
            .map(|(_, addr)| {
                let doc: TantivyDocument = searcher.doc(addr).map_err(err)?;
                Ok(doc
                    .get_first(self.text)
                    .and_then(|v| v.as_str())
                    .unwrap_or_default()
                    .to_string())
            })
            .collect()
    }
}
