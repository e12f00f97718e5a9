//! Bounded imports at scale: a 50,000-row file is read, validated and written a chunk at a time
//! (no callback and no write ever gets more than a chunk), in one all-or-nothing transaction.

use std::sync::atomic::AtomicBool;
use std::sync::atomic::Ordering::Relaxed;

use tailings_atlas::io::sites::{IMPORT_CHUNK_ROWS, Mapping, ReadOptions, read_sites_chunked};
use tailings_atlas::service::transfer::{ImportError, ImportOptions, import_author, import_file};
use tailings_atlas::store::{Abandon, Change, NextChunk, SiteStore, Streamed};

use super::*;

const ROWS: usize = 50_000;

/// Imports `csv` into `store` through [`import_file`], counting the changes of each chunk the
/// store pulls and the outcomes it reports.
fn import_counting(
    store: &dyn SiteStore,
    csv: &Path,
    options: &ImportOptions,
    read_progress: &(dyn Fn(usize) + Sync),
) -> (
    Result<tailings_atlas::service::transfer::ImportReport, ImportError>,
    Vec<usize>,
) {
    let mut pulled = Vec::new();
    let author = import_author("test", csv, None);
    let result = import_file(
        csv,
        &Mapping::default(),
        options,
        read_progress,
        |valid, next| {
            let mut counting = || -> Result<Option<Vec<Change>>, Abandon> {
                let chunk = next()?;
                if let Some(c) = &chunk {
                    pulled.push(c.len());
                }
                Ok(chunk)
            };
            let counting: &mut NextChunk<'_> = &mut counting;
            let mut reported = 0;
            let streamed: Result<Streamed, _> =
                store.write_stream(counting, &author, &|| {}, &mut |w| {
                    assert!(w.len() <= IMPORT_CHUNK_ROWS, "{} outcomes at once", w.len());
                    reported += w.len();
                });
            if streamed.is_ok() {
                assert_eq!(reported, valid);
            }
            streamed
        },
    );
    (result, pulled)
}

#[test]
fn a_large_import_is_read_and_written_in_chunks_and_all_or_nothing() {
    let dir = temp_dir("bounded");
    let store_path = dir.join("atlas.gpkg");
    let store = tailings_atlas::service::open_store(&store_path, &repo_path("data")).unwrap();
    let csv = dir.join("large.csv");
    synthetic_csv(&csv, ROWS, 50);

    // The reader hands out at most a chunk at a time.
    let mut sizes = Vec::new();
    let layer = read_sites_chunked(
        &csv,
        &Mapping::default(),
        &ReadOptions::default(),
        IMPORT_CHUNK_ROWS,
        &|_| {},
        &mut |chunk| {
            sizes.push(chunk.len());
            Ok::<_, tailings_atlas::io::IoError>(())
        },
    )
    .unwrap();
    assert_eq!(layer.rows, ROWS);
    assert_eq!(sizes, vec![IMPORT_CHUNK_ROWS; ROWS / IMPORT_CHUNK_ROWS]);

    // A bad row at the very end: nothing is written, and the store is not even asked.
    let bad = dir.join("bad_at_end.csv");
    let mut text = std::fs::read_to_string(&csv).unwrap();
    text.push_str("syn_bad,Bad,tailings,test,KGZ,legacy,72.0,95.0,site,1,1,s\n");
    std::fs::write(&bad, &text).unwrap();
    let before = store.latest_revision().unwrap();
    let (result, pulled) = import_counting(&*store, &bad, &ImportOptions::default(), &|_| {});
    match result {
        Err(ImportError::Invalid(report)) => {
            assert_eq!((report.rows, report.valid), (ROWS + 1, ROWS));
            assert_eq!(report.invalid.len(), 1);
            assert_eq!(report.invalid[0].row, ROWS + 1);
            assert!(report.invalid[0].reason.contains("`lat`"), "{report:?}");
            assert!(!report.written);
        }
        other => panic!("{other:?}"),
    }
    assert!(pulled.is_empty(), "{pulled:?}");
    assert_eq!(store.latest_revision().unwrap(), before);

    // The file changes between the validating reading and the writing one (here, once the first
    // has read its last row; same length, as GDAL may still look at the end): every chunk went to
    // the store before the second reading could tell, and all are rolled back.
    let changed = AtomicBool::new(false);
    let options = ImportOptions {
        skip_invalid: true,
        ..ImportOptions::default()
    };
    let (result, pulled) = import_counting(&*store, &csv, &options, &|n| {
        if n == ROWS && !changed.swap(true, Relaxed) {
            let text = std::fs::read_to_string(&csv).unwrap();
            let edited = text.replacen("Synthetic site 0,", "Synthetic site X,", 1);
            assert_ne!(text, edited);
            std::fs::write(&csv, edited).unwrap();
        }
    });
    match result {
        Err(ImportError::Io(e)) => assert!(e.to_string().contains("changed while"), "{e}"),
        other => panic!("{other:?}"),
    }
    assert_eq!(
        pulled.len(),
        ROWS / IMPORT_CHUNK_ROWS,
        "every chunk was written: {pulled:?}"
    );
    assert_eq!(store.latest_revision().unwrap(), before);
    assert_eq!(store.load_sites().unwrap().len(), SEED_SITES);

    // The valid rows of the file with the bad row (skip_invalid), in chunks that are never the
    // whole file.
    let (result, pulled) = import_counting(&*store, &bad, &options, &|_| {});
    let report = result.unwrap();
    assert_eq!(
        (
            report.rows,
            report.valid,
            report.invalid.len(),
            report.created
        ),
        (ROWS + 1, ROWS, 1, ROWS)
    );
    assert!(report.written);
    assert_eq!(pulled, vec![IMPORT_CHUNK_ROWS; ROWS / IMPORT_CHUNK_ROWS]);
    assert_eq!(store.load_sites().unwrap().len(), SEED_SITES + ROWS);
    let mut chunked = 0;
    store
        .for_each_site_chunk(IMPORT_CHUNK_ROWS, &mut |c| {
            assert!(c.len() <= IMPORT_CHUNK_ROWS);
            chunked += c.len();
            Ok(())
        })
        .unwrap();
    assert_eq!(chunked, SEED_SITES + ROWS);
    drop(store);
    std::fs::remove_dir_all(&dir).ok();
}
