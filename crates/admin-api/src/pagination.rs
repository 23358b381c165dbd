//! `p` (1-based, default 1) and `size` or `page_size` (default 10, at most 100). A page past
//! [`MAX_PAGE`] is refused with 400: offsets stay far inside what every database accepts.

use crate::error::ApiError;
use persistence::Page;

pub const DEFAULT_SIZE: u64 = 10;
pub const MAX_SIZE: u64 = 100;
/// The highest page number accepted (10^9 pages of 100 rows is past any table here).
pub const MAX_PAGE: u64 = 1_000_000_000;

pub fn page_of(
    p: Option<u64>,
    size: Option<u64>,
    page_size: Option<u64>,
) -> Result<Page, ApiError> {
    let number = p.unwrap_or(1).max(1);
    if number > MAX_PAGE {
        return Err(ApiError::invalid("p", "at most 1000000000"));
    }
    Ok(Page {
        number,
        size: size
            .or(page_size)
            .unwrap_or(DEFAULT_SIZE)
            .clamp(1, MAX_SIZE),
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
        assert!(page_of(Some(MAX_PAGE), Some(100), None).is_ok());
        assert!(page_of(Some(MAX_PAGE + 1), None, None).is_err());
        assert!(page_of(Some(u64::MAX), None, None).is_err());
    }
}
