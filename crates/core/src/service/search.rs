//! Ranked full-text search over published posts' titles, descriptions and bodies.
//!
//! Query and index share one analysis (`quire_content::search::terms`: Unicode words, CJK runs
//! as bigrams), so a two-syllable Korean word finds the longer word it starts. A post matches
//! when it holds every term of the query; matches are ranked by BM25 (Robertson and Zaragoza,
//! "The Probabilistic Relevance Framework", 2009; k1 = 1.2, b = 0.75) over field-weighted
//! frequencies, a title's term weighing five times a body's, with each post's length
//! normalized against a fixed pivot rather than the collection's mean
//! (`quire_content::search::impact`), so that each term's weight in a post is stored with the
//! post. The inverse document frequencies are computed here and the store sums
//! idf × impact, so both engines rank alike; the best matches are found by reading the
//! rarest term's postings best first (see `best_matches`).

use std::collections::HashMap;
use std::sync::PoisonError;

use super::Quire;
use super::posts::language_tag;
use crate::error::{Error, Result};
use crate::ids::PostId;
use crate::model::{Post, search_document};
use crate::policy::Actor;

use crate::ports::{IndexQuery, SearchStats, Store, TermStats};
use crate::time::Timestamp;
use crate::values::{TagName, Username};

/// The longest query accepted, in characters.
pub const MAX_QUERY_CHARS: usize = 1000;
/// The most distinct terms a query may have.
pub const MAX_QUERY_TERMS: usize = 32;
/// The most results one page may hold, and how deep paging may go.
pub const MAX_SEARCH_LIMIT: u32 = 50;
/// See [`MAX_SEARCH_LIMIT`].
pub const MAX_SEARCH_OFFSET: u32 = 1000;
/// Results per page when the caller does not say.
pub const DEFAULT_SEARCH_LIMIT: u32 = 20;
/// About how long a snippet is, in characters.
pub const SNIPPET_CHARS: usize = 200;
/// Posts read and indexed per transaction by a rebuild.
const REINDEX_BATCH: u32 = 200;

/// How long the index's size and a term's count of posts, read for BM25's idf, are reused:
/// reading them costs a pass over one row per post (per post holding the term), and a few
/// seconds' drift moves no ranking much.
const STATS_TTL_MILLIS: i64 = 10_000;

/// The most terms whose counts are kept; past it, expired counts are forgotten, and all of them
/// if none has expired.
const MEMO_TERMS: usize = 10_000;

/// The index's size and the terms' counts of posts as last read, and when; shared by the
/// searches of one process. A count of 0 is never kept: the first post holding a term is found
/// at once.
#[derive(Default)]
pub(crate) struct StatsMemo(std::sync::Mutex<Memo>);

#[derive(Default)]
struct Memo {
    index: Option<(Timestamp, SearchStats)>,
    terms: HashMap<String, (Timestamp, i64)>,
}

impl StatsMemo {
    fn lock(&self) -> std::sync::MutexGuard<'_, Memo> {
        self.0.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

fn fresh(now: Timestamp, read_at: Timestamp) -> bool {
    now.as_millis() - read_at.as_millis() < STATS_TTL_MILLIS
}

/// The value memoized in `slot` (read at its timestamp) while it is fresh. Once it has expired,
/// `None`, and the slot is stamped `now`: the caller reads the value again, and the searches
/// meanwhile take the old one rather than all reading it at once.
fn fresh_or_claim<T: Copy>(slot: &mut (Timestamp, T), now: Timestamp) -> Option<T> {
    if fresh(now, slot.0) {
        Some(slot.1)
    } else {
        slot.0 = now;
        None
    }
}

/// A search as a caller asks it; every filter is optional.
#[derive(Debug, Clone, Default)]
pub struct SearchRequest<'a> {
    /// The words to find: plain text, never a query language (quotes, `*`, `OR` are words).
    pub q: &'a str,
    /// Only posts in this language (any BCP 47 tag; compared in canonical form).
    pub language: Option<&'a str>,
    /// Only posts with this tag.
    pub tag: Option<&'a str>,
    /// Only posts by this author's username.
    pub author: Option<&'a str>,
    /// 1 to [`MAX_SEARCH_LIMIT`]; [`DEFAULT_SEARCH_LIMIT`] when `None`.
    pub limit: Option<u32>,
    /// 0 to [`MAX_SEARCH_OFFSET`].
    pub offset: Option<u32>,
}

/// One result: the post as lists show it (without its body), its score (higher is better;
/// comparable within one search only) and a passage of its body around the matching words, as
/// HTML with the matches in `<mark>` (the body's opening when no match is in its first
/// `quire_content::search::EXCERPT_CHARS` characters; `None` for an empty body).
#[derive(Debug, Clone)]
pub struct SearchHit {
    pub post: Post,
    pub score: f64,
    pub snippet: Option<String>,
}

/// BM25's inverse document frequency of a term `documents_with` of `documents` posts hold;
/// never negative, even when the count of posts read a moment ago is below the term's.
fn idf(documents: i64, documents_with: i64) -> f64 {
    // Counts of posts, far below 2^52: exact as f64.
    let df = documents_with as f64;
    let n = (documents as f64).max(df);
    (1.0 + (n - df + 0.5) / (df + 0.5)).ln()
}

/// How many of the rarest term's postings a search's first pass reads: twice the posts wanted
/// and 16 more; with more terms, at least four times as many as would hold the posts wanted
/// if each other term fell on its share of the posts independently (the next passes read four
/// times more each, and a pass costs about what it reads); and all of them when that is half
/// of them or more. `terms` are rarest first; `documents` is the index's size.
fn first_scan(wanted: u32, terms: &[TermStats], documents: i64) -> u32 {
    let base = f64::from(wanted.saturating_mul(2).saturating_add(16));
    let Some((rarest, others)) = terms.split_first() else {
        return 0;
    };
    // Counts of posts, far below 2^52: exact as f64.
    let documents = (documents as f64).max(1.0);
    let share: f64 = others
        .iter()
        .map(|t| (t.documents_with as f64 / documents).clamp(1e-6, 1.0))
        .product();
    let scan = if others.is_empty() {
        base
    } else {
        base.max(4.0 * f64::from(wanted) / share)
    };
    let holding = rarest.documents_with as f64;
    let scan = if scan * 2.0 >= holding {
        // One more than there are: the pass sees it has read them all.
        holding + 1.0
    } else {
        scan
    };
    // At most u32::MAX; a float-to-int `as` saturates.
    scan.ceil() as u32
}

impl<S: Store> Quire<S> {
    /// Published posts matching `request`, best first.
    ///
    /// # Errors
    /// [`Error::Malformed`] (400) for a query over [`MAX_QUERY_CHARS`] characters or
    /// [`MAX_QUERY_TERMS`] terms, a limit or offset out of range, or a language that is no
    /// BCP 47 tag; storage errors. A query with no words, or with a word no post holds, is
    /// no error: it finds nothing.
    pub async fn search(
        &self,
        request: &SearchRequest<'_>,
        viewer: Option<&Actor>,
    ) -> Result<Vec<SearchHit>> {
        if request.q.chars().count() > MAX_QUERY_CHARS {
            return Err(Error::malformed(
                "q",
                format!("must be at most {MAX_QUERY_CHARS} characters"),
            ));
        }
        let limit = request.limit.unwrap_or(DEFAULT_SEARCH_LIMIT);
        if !(1..=MAX_SEARCH_LIMIT).contains(&limit) {
            return Err(Error::malformed(
                "limit",
                format!("must be 1 to {MAX_SEARCH_LIMIT}"),
            ));
        }
        let offset = request.offset.unwrap_or(0);
        if offset > MAX_SEARCH_OFFSET {
            return Err(Error::malformed(
                "offset",
                format!("must be at most {MAX_SEARCH_OFFSET}"),
            ));
        }
        let language = request
            .language
            .map(|text| language_tag(text).map_err(|message| Error::malformed("lang", message)))
            .transpose()?;
        let mut terms: Vec<String> = Vec::new();
        for term in quire_content::search::terms(request.q) {
            if !terms.contains(&term) {
                terms.push(term);
            }
        }
        if terms.len() > MAX_QUERY_TERMS {
            return Err(Error::malformed(
                "q",
                format!("must have at most {MAX_QUERY_TERMS} distinct words"),
            ));
        }
        if terms.is_empty() {
            return Ok(Vec::new());
        }
        // A tag as lists read it (trimmed); one that cannot exist finds nothing.
        let tag = match request.tag.map(TagName::parse) {
            Some(Err(_)) => return Ok(Vec::new()),
            tag => tag.transpose().ok().flatten(),
        };
        let author = match request.author {
            None => None,
            Some(name) => {
                let Ok(name) = Username::parse(name) else {
                    return Ok(Vec::new());
                };
                match self.store.profile(&name, None).await? {
                    Some(profile) => Some(profile.id),
                    None => return Ok(Vec::new()),
                }
            }
        };
        let mut term_stats = self.term_stats(&terms).await?;
        // Every term must be there: one no post holds finds nothing.
        if term_stats.len() < terms.len() || term_stats.iter().any(|t| t.documents_with == 0) {
            return Ok(Vec::new());
        }
        let stats = self.index_stats().await?;
        if stats.documents == 0 {
            return Ok(Vec::new());
        }
        // The rarest term first: its postings are read, best first; the others are looked up.
        term_stats.sort_by_key(|t| t.documents_with);
        let weighted: Vec<(String, f64)> = term_stats
            .iter()
            .map(|t| (t.term.clone(), idf(stats.documents, t.documents_with)))
            .collect();
        let wanted = offset + limit;
        let ranked = self
            .best_matches(IndexQuery {
                terms: weighted,
                language,
                author,
                tag: tag.map(|tag| tag.as_str().to_owned()),
                scan: first_scan(wanted, &term_stats, stats.documents),
                wanted,
            })
            .await?;
        let page: Vec<(PostId, f64)> = ranked
            .into_iter()
            .skip(usize::try_from(offset).unwrap_or(usize::MAX))
            .collect();
        let ids: Vec<PostId> = page.iter().map(|(id, _)| *id).collect();
        let viewer_id = viewer.map(|actor| actor.user_id);
        // One read for every hit; a post unpublished or deleted since the ranking is left out.
        let mut posts: HashMap<PostId, Post> = self
            .store
            .published_posts(&ids, viewer_id)
            .await?
            .into_iter()
            .map(|post| (post.id, post))
            .collect();
        let mut excerpts: HashMap<PostId, String> =
            self.store.excerpts(&ids).await?.into_iter().collect();
        let mut hits = Vec::with_capacity(page.len());
        for (id, score) in page {
            let Some(post) = posts.remove(&id) else {
                continue;
            };
            let excerpt = excerpts.remove(&id).unwrap_or_default();
            hits.push(SearchHit {
                post,
                score: score / quire_content::search::IMPACT_SCALE,
                snippet: quire_content::search::snippet(&excerpt, &terms, SNIPPET_CHARS),
            });
        }
        Ok(hits)
    }

    /// The `query.wanted` best matches, best first, exactly as scoring every post would rank
    /// them, reading as few postings as it can: passes over more and more of the first (the
    /// rarest) term's best postings, until the last wanted match scores more than any post
    /// not yet read could. A post not read holds the first term with at most the last impact
    /// read (`floor`), and each other term with at most that term's highest impact, so it
    /// scores at most `idf₁ × floor + others`, `others` being `Σ idfᵢ × maxᵢ` over the other
    /// terms (the bound of MaxScore, Turtle and Flood, 1995), read by the same pass as the
    /// postings. With a single term, reading as many as are wanted is enough: a post not read
    /// scores at most the last one read and, being older among equals, ranks after it.
    async fn best_matches(&self, mut query: IndexQuery) -> Result<Vec<(PostId, f64)>> {
        let wanted = usize::try_from(query.wanted).unwrap_or(usize::MAX);
        let first_idf = query.terms.first().map_or(0.0, |(_, idf)| *idf);
        loop {
            let found = self.store.search(&query).await?;
            let read_all = found.scanned < query.scan;
            let enough = match found.ranked.get(wanted.saturating_sub(1)) {
                None => false,
                Some(_) if query.terms.len() == 1 => true,
                Some((_, last)) => {
                    let bound = first_idf * found.floor as f64 + found.others;
                    // Scores are summed by the store: leave room for its rounding.
                    *last > bound + bound.abs() * 1e-9
                }
            };
            if read_all || enough || query.scan == u32::MAX {
                return Ok(found.ranked);
            }
            query.scan = query.scan.saturating_mul(4);
        }
    }

    /// The index's size, read at most once per [`STATS_TTL_MILLIS`]: the first search to find
    /// it expired reads it again, and the searches meanwhile take the size it replaces (the
    /// searches running when it expires do not all read it at once).
    async fn index_stats(&self) -> Result<SearchStats> {
        let now = self.adapters.clock.now();
        {
            let mut memo = self.search_stats.lock();
            if let Some(stats) = memo
                .index
                .as_mut()
                .and_then(|slot| fresh_or_claim(slot, now))
            {
                return Ok(stats);
            }
        }
        let stats = self.store.search_stats().await?;
        // An empty index is not kept: the first posts are found at once.
        if stats.documents > 0 {
            self.search_stats.lock().index = Some((now, stats));
        }
        Ok(stats)
    }

    /// How many posts hold each of `terms`, each count read at most once per
    /// [`STATS_TTL_MILLIS`] (by the first search to find it expired, as [`Self::index_stats`]);
    /// the terms none holds are left out.
    async fn term_stats(&self, terms: &[String]) -> Result<Vec<TermStats>> {
        let now = self.adapters.clock.now();
        let mut known = Vec::with_capacity(terms.len());
        let mut unknown = Vec::new();
        {
            let mut memo = self.search_stats.lock();
            for term in terms {
                match memo
                    .terms
                    .get_mut(term)
                    .and_then(|slot| fresh_or_claim(slot, now))
                {
                    Some(documents_with) => known.push(TermStats {
                        term: term.clone(),
                        documents_with,
                    }),
                    None => unknown.push(term.clone()),
                }
            }
        }
        if unknown.is_empty() {
            return Ok(known);
        }
        let read = self.store.term_stats(&unknown).await?;
        let mut memo = self.search_stats.lock();
        if memo.terms.len() + read.len() > MEMO_TERMS {
            memo.terms.retain(|_, (read_at, _)| fresh(now, *read_at));
            if memo.terms.len() + read.len() > MEMO_TERMS {
                memo.terms.clear();
            }
        }
        for stats in read {
            if stats.documents_with > 0 {
                memo.terms
                    .insert(stats.term.clone(), (now, stats.documents_with));
                known.push(stats);
            } else {
                memo.terms.remove(&stats.term);
            }
        }
        Ok(known)
    }

    /// Rebuilds the search index entry of every post (`missing_only`: of the posts that have
    /// none, as after an upgrade), in batches, telling `progress` how many are done after each.
    /// Answers how many posts were indexed. Safe to run while the server writes: each batch
    /// reads the posts as they are, and a write after that rewrites its own entry.
    pub async fn reindex_search(
        &self,
        missing_only: bool,
        mut progress: impl FnMut(usize),
    ) -> Result<usize> {
        let mut after = 0;
        let mut done = 0;
        loop {
            let batch = self
                .store
                .posts_to_index(after, REINDEX_BATCH, missing_only)
                .await?;
            let Some((last, ..)) = batch.last() else {
                return Ok(done);
            };
            after = last.get();
            let documents: Vec<_> = batch
                .iter()
                .map(|(id, updated_at, title, description, body)| {
                    (
                        *id,
                        *updated_at,
                        search_document(title, description, body.as_str()),
                    )
                })
                .collect();
            self.store.write_search_documents(&documents).await?;
            done += documents.len();
            progress(done);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_expired_value_is_claimed_once_and_kept_for_the_others() {
        let read_at = Timestamp::from_millis(1_000);
        let mut slot = (read_at, 42_i64);
        let fresh_until = Timestamp::from_millis(1_000 + STATS_TTL_MILLIS - 1);
        assert_eq!(fresh_or_claim(&mut slot, fresh_until), Some(42));
        assert_eq!(slot.0, read_at, "a fresh value keeps its stamp");
        let expired = Timestamp::from_millis(1_000 + STATS_TTL_MILLIS);
        assert_eq!(
            fresh_or_claim(&mut slot, expired),
            None,
            "the first reads it"
        );
        assert_eq!(slot.0, expired);
        assert_eq!(
            fresh_or_claim(&mut slot, expired),
            Some(42),
            "the searches meanwhile take the old value"
        );
    }
}
