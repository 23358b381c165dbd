//! `p` (1-based, default 1) and `size` or `page_size` (default 10, at most 100).

use persistence::Page;

pub const DEFAULT_SIZE: u64 = 10;
pub const MAX_SIZE: u64 = 100;

pub fn page_of(p: Option<u64>, size: Option<u64>, page_size: Option<u64>) -> Page {
    Page {
        number: p.unwrap_or(1).max(1),
        size: size
            .or(page_size)
            .unwrap_or(DEFAULT_SIZE)
            .clamp(1, MAX_SIZE),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_and_bounds() {
        let p = page_of(None, None, None);
        assert_eq!((p.number, p.size), (1, 10));
        let p = page_of(Some(0), None, Some(500));
        assert_eq!((p.number, p.size), (1, 100));
        let p = page_of(Some(3), Some(5), Some(50));
        assert_eq!((p.number, p.size), (3, 5));
    }
}
