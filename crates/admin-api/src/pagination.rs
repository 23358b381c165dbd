//! `p` (1-based, default 1; 0 reads as 1) and `size` or `page_size` (default 10; read as 1 to
//! 100). A negative value or a page past [`MAX_PAGE`] is refused with 400 (the OpenAPI document
//! declares the same bounds): offsets stay far inside what every database accepts.

use crate::error::ApiError;
use persistence::Page;
use serde::Deserialize;
use utoipa::IntoParams;

/// The paging parameters of every list, read from the query beside the list's own filters.
#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct PageQuery {
    /// Page number, from 1 (0 is read as 1).
    #[param(minimum = 0, maximum = 1000000000)]
    pub p: Option<i64>,
    /// Page size, default 10; above 100 is read as 100, 0 as 1.
    #[param(minimum = 0)]
    pub size: Option<i64>,
    /// Same as `size` (used when `size` is absent).
    #[param(minimum = 0)]
    pub page_size: Option<i64>,
}

impl PageQuery {
    /// The page asked for, or 400.
    pub fn page(&self) -> Result<Page, ApiError> {
        page_of(self.p, self.size, self.page_size)
    }
}

pub const DEFAULT_SIZE: u64 = 10;
pub const MAX_SIZE: u64 = 100;
/// The highest page number accepted (10^9 pages of 100 rows is past any table here).
pub const MAX_PAGE: u64 = 1_000_000_000;

pub fn page_of(
    p: Option<i64>,
    size: Option<i64>,
    page_size: Option<i64>,
) -> Result<Page, ApiError> {
    let number = u64::try_from(p.unwrap_or(1))
        .ok()
        .filter(|n| *n <= MAX_PAGE)
        .ok_or_else(|| ApiError::invalid("p", "must be from 0 to 1000000000"))?;
    let read = |field: &'static str, value: Option<i64>| {
        value
            .map(|s| u64::try_from(s).map_err(|_| ApiError::invalid(field, "must not be negative")))
            .transpose()
    };
    let (size, page_size) = (read("size", size)?, read("page_size", page_size)?);
    let size = size
        .or(page_size)
        .map_or(DEFAULT_SIZE, |s| s.clamp(1, MAX_SIZE));
    Ok(Page {
        number: number.max(1),
        size,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_and_bounds() {
        let get = |p, s, ps| page_of(p, s, ps).ok().map(|p| (p.number, p.size));
        assert_eq!(get(None, None, None), Some((1, 10)));
        assert_eq!(get(Some(0), None, Some(500)), Some((1, 100)));
        assert_eq!(get(Some(3), Some(5), Some(50)), Some((3, 5)));
        assert_eq!(get(None, Some(i64::MAX), None), Some((1, 100)));
        assert!(page_of(Some(1_000_000_000), Some(100), None).is_ok());
        assert!(page_of(Some(1_000_000_001), None, None).is_err());
        assert!(page_of(Some(i64::MAX), None, None).is_err());
        assert!(page_of(Some(-1), None, None).is_err());
        assert!(page_of(None, Some(-1), None).is_err());
        assert!(page_of(None, None, Some(-5)).is_err());
        assert!(
            page_of(None, Some(5), Some(-5)).is_err(),
            "both sizes are checked"
        );
    }
}
