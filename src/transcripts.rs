//! Full-text index of chat transcripts for the support console (tantivy, under `DATA_DIR/transcripts`): every
//! turn's text, the products shown, intents, the customer id and staff annotations, one document per session.
//! Saving a session updates its document; the commit happens before the next search (or on `commit`), so a chat
//! turn never waits for it.
use crate::session::Session;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;
use tantivy::collector::TopDocs;
use tantivy::query::QueryParser;
use tantivy::schema::{Field, IndexRecordOption, Schema, TextFieldIndexing, TextOptions, Value, STORED, STRING};
use tantivy::{doc, Index, IndexReader, IndexWriter, ReloadPolicy, TantivyDocument, Term};

#[derive(Debug, thiserror::Error)]
pub enum TranscriptIndexError {
    #[error("transcript index: {0}")]
    Tantivy(#[from] tantivy::TantivyError),
    #[error("transcript index: {0}")]
    Directory(#[from] tantivy::directory::error::OpenDirectoryError),
    #[error("transcript index folder: {0}")]
    Io(#[from] std::io::Error),
}

pub struct TranscriptIndex {
    index: Index,
    reader: IndexReader,
    writer: Mutex<IndexWriter>,
    dirty: AtomicBool,
    id: Field,
    text: Field,
}

/// Everything in a session a member of staff might search for.
fn document_text(s: &Session) -> String {
    let mut out = String::new();
    if let Some(c) = &s.customer {
        out.push_str(c);
        out.push('\n');
    }
    for t in &s.turns {
        out.push_str(&t.text);
        out.push('\n');
        if let Some(i) = &t.intent {
            out.push_str(i);
            out.push('\n');
        }
        for c in &t.cards {
            out.push_str(&c.title);
            out.push('\n');
        }
    }
    for a in &s.annotations {
        out.push_str(&a.label);
        out.push(' ');
        out.push_str(&a.note);
        out.push('\n');
    }
    out
}

impl TranscriptIndex {
    /// Opens (or creates) the index; when it does not hold exactly the stored sessions it is rebuilt from them.
    pub fn open(dir: &Path, sessions: &[Session]) -> Result<Self, TranscriptIndexError> {
        let path = dir.join("transcripts");
        std::fs::create_dir_all(&path)?;
        let mut b = Schema::builder();
        let text_opts = TextOptions::default().set_indexing_options(
            TextFieldIndexing::default()
                .set_tokenizer(crate::search::cjk::NAME)
                .set_index_option(IndexRecordOption::WithFreqsAndPositions),
        );
        let id = b.add_text_field("id", STRING | STORED);
        let text = b.add_text_field("text", text_opts);
        let index = crate::search::keyword::open_index::<TranscriptIndexError>(&path, b.build())?;
        let reader = index.reader_builder().reload_policy(ReloadPolicy::Manual).try_into()?;
        let writer = index.writer_with_num_threads(1, 15_000_000)?;
        let me = Self { index, reader, writer: Mutex::new(writer), dirty: AtomicBool::new(false), id, text };
        if me.reader.searcher().num_docs() != sessions.len() as u64 {
            let mut w = me.writer.lock().unwrap_or_else(|e| e.into_inner());
            w.delete_all_documents()?;
            for s in sessions {
                w.add_document(doc!(id => s.id.as_str(), text => document_text(s)))?;
            }
            w.commit()?;
            drop(w);
            me.reader.reload()?;
            tracing::info!(sessions = sessions.len(), "transcript index rebuilt");
        }
        Ok(me)
    }

    /// Replaces the session's document (committed before the next search).
    pub fn upsert(&self, s: &Session) -> Result<(), TranscriptIndexError> {
        let w = self.writer.lock().unwrap_or_else(|e| e.into_inner());
        w.delete_term(Term::from_field_text(self.id, s.id.as_str()));
        w.add_document(doc!(self.id => s.id.as_str(), self.text => document_text(s)))?;
        self.dirty.store(true, Ordering::SeqCst);
        Ok(())
    }

    pub fn remove(&self, id: &str) {
        let w = self.writer.lock().unwrap_or_else(|e| e.into_inner());
        w.delete_term(Term::from_field_text(self.id, id));
        self.dirty.store(true, Ordering::SeqCst);
    }

    /// Makes every change so far searchable. The writer's lock is held from the check to the reader's reload: a
    /// search that arrives while another thread commits waits for that commit instead of finding nothing dirty and
    /// reading the index as it was before (a staff search missed a fresh transcript that way).
    pub fn commit(&self) -> Result<(), TranscriptIndexError> {
        let mut w = self.writer.lock().unwrap_or_else(|e| e.into_inner());
        if self.dirty.swap(false, Ordering::SeqCst) {
            w.commit()?;
            self.reader.reload()?;
        }
        Ok(())
    }

    /// Commits, then merges every segment into one and removes the old files, so deleted transcripts leave no
    /// trace on disk (tantivy otherwise keeps a deleted document's terms until a merge). Costs a rewrite of the
    /// index: used when a shopper's data is deleted and by retention.
    pub fn purge(&self) -> Result<(), TranscriptIndexError> {
        // the lock first, as in `commit`: a search meanwhile waits for the purge instead of reading the old state
        let mut w = self.writer.lock().unwrap_or_else(|e| e.into_inner());
        self.dirty.store(false, Ordering::SeqCst);
        w.commit()?;
        let ids = self.index.searchable_segment_ids()?;
        if !ids.is_empty() {
            w.merge(&ids).wait()?;
        }
        w.garbage_collect_files().wait()?;
        drop(w);
        self.reader.reload()?;
        Ok(())
    }

    /// Session ids whose transcript matches `query` (all words must match; stemmed), best first.
    pub fn search(&self, query: &str, limit: usize) -> Result<Vec<String>, TranscriptIndexError> {
        self.commit()?;
        let mut parser = QueryParser::for_index(&self.index, vec![self.text]);
        parser.set_conjunction_by_default();
        let (q, _errors) = parser.parse_query_lenient(query);
        let searcher = self.reader.searcher();
        let hits = searcher.search(&q, &TopDocs::with_limit(limit.max(1)).order_by_score())?;
        let mut out = vec![];
        for (_, addr) in hits {
            let d: TantivyDocument = searcher.doc(addr)?;
            if let Some(id) = d.get_first(self.id).and_then(|v| v.as_str()) {
                out.push(id.to_string());
            }
        }
        Ok(out)
    }

    /// Number of searchable sessions.
    pub fn len(&self) -> u64 {
        self.reader.searcher().num_docs()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl crate::session::SessionIndex for TranscriptIndex {
    fn upsert(&self, s: &Session) -> Result<(), crate::session::IndexError> {
        Ok(TranscriptIndex::upsert(self, s)?)
    }
    fn remove(&self, id: &str) {
        TranscriptIndex::remove(self, id)
    }
    fn purge(&self) -> Result<(), crate::session::IndexError> {
        Ok(TranscriptIndex::purge(self)?)
    }
    fn commit(&self) -> Result<(), crate::session::IndexError> {
        Ok(TranscriptIndex::commit(self)?)
    }
    fn search(&self, query: &str, limit: usize) -> Result<Vec<String>, crate::session::IndexError> {
        Ok(TranscriptIndex::search(self, query, limit)?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn staff_find_chinese_and_english_words_in_transcripts() {
        let dir = tempfile::tempdir().unwrap();
        let mut chinese = Session::start(None);
        chinese.shopper_said("我想给三岁的孩子买一个毛绒泰迪熊");
        let mut english = Session::start(Some("17850".into()));
        english.shopper_said("where is my parcel? It was a gift for my mum");
        let index = TranscriptIndex::open(dir.path(), &[chinese.clone(), english.clone()]).unwrap();
        assert_eq!(index.search("泰迪熊", 10).unwrap(), [chinese.id.as_str()]); // teddy bear, inside the sentence
        assert_eq!(index.search("parcels", 10).unwrap(), [english.id.as_str()]); // stemmed as before
        assert!(index.search("飞机", 10).unwrap().is_empty());
    }

    #[test]
    fn sessions_write_to_the_index_through_the_session_index_seam() {
        let dir = tempfile::tempdir().unwrap();
        let store = crate::store::Store::open(dir.path()).unwrap();
        let index = TranscriptIndex::open(dir.path(), &[]).unwrap();
        let sessions = crate::session::Sessions::new(store).with_index(std::sync::Arc::new(index));
        let mut s = Session::start(None);
        s.shopper_said("a lantern for the garden");
        sessions.save(&s).unwrap();
        let seam = sessions.index().expect("an index");
        seam.commit().unwrap();
        assert_eq!(seam.search("lanterns", 10).unwrap(), [s.id.as_str()]);
        sessions.delete(std::slice::from_ref(&s.id)).unwrap();
        seam.commit().unwrap();
        assert!(seam.search("lanterns", 10).unwrap().is_empty(), "deleted from the index too");
    }
}
