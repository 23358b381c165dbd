use super::*;

const U: Account = Account::User(UserId(1));
const T: Account = Account::Token(TokenId(7));

fn payer(token: bool) -> Payer {
    Payer {
        user: UserId(1),
        token: token.then_some(TokenId(7)),
    }
}

fn loaded(user: i64, token: Option<i64>) -> Book {
    let b = Book::default();
    b.load(U, user);
    if let Some(t) = token {
        b.load(T, t);
    }
    b
}

#[test]
fn reserve_takes_both_or_neither() {
    let l = loaded(100, Some(30));
    assert_eq!(
        l.reserve(payer(true), 40, true),
        Err(Shortfall {
            account: T,
            available: 30
        })
    );
    assert_eq!((l.balance(U), l.balance(T)), (Some(100), Some(30)));
    assert_eq!(l.reserve(payer(true), 30, true), Ok(()));
    assert_eq!((l.balance(U), l.balance(T)), (Some(70), Some(0)));
    assert_eq!(
        l.reserve(payer(false), 71, true),
        Err(Shortfall {
            account: U,
            available: 70
        })
    );
    assert_eq!(l.reserve(payer(false), 70, true), Ok(()));
    assert_eq!(l.balance(U), Some(0));
    // A paid call needs a positive balance; a free one does not.
    assert!(l.reserve(payer(false), 0, true).is_err());
    assert_eq!(l.reserve(payer(false), 0, false), Ok(()));
}

#[test]
fn load_keeps_newer_balances_and_credit_settles() {
    let l = loaded(100, None);
    assert_eq!(l.reserve(payer(false), 10, true), Ok(()));
    l.load(U, 100);
    assert_eq!(l.balance(U), Some(90), "a later load does not overwrite");
    l.credit(payer(false), 4);
    assert_eq!(l.settle(payer(false), 0, 20), 20);
    assert_eq!(l.balance(U), Some(74));
    l.adjust(U, 1000);
    l.adjust(Account::User(UserId(2)), 1000);
    assert_eq!(
        (l.balance(U), l.balance(Account::User(UserId(2)))),
        (Some(1074), None)
    );
}

#[test]
fn settling_past_the_reservation_stops_at_zero() {
    let l = loaded(100, Some(60));
    assert_eq!(l.reserve(payer(true), 50, true), Ok(()));
    // Cost less than reserved: the rest comes back.
    assert_eq!(l.settle(payer(true), 50, 20), 20);
    assert_eq!((l.balance(U), l.balance(T)), (Some(80), Some(40)));
    assert_eq!(l.reserve(payer(true), 30, true), Ok(()));
    // Cost far more: only what the smaller balance (the key's 10) still holds is taken.
    assert_eq!(l.settle(payer(true), 30, 10_000), 40);
    assert_eq!((l.balance(U), l.balance(T)), (Some(40), Some(0)));
}

#[test]
fn a_reloaded_key_keeps_what_it_took() {
    let l = loaded(1000, Some(100));
    assert_eq!(l.reserve(payer(true), 30, true), Ok(()));
    assert_eq!(l.settle(payer(true), 30, 30), 30);
    // Switched to unlimited and back before the 30 were committed.
    l.unload(T);
    l.load(T, 100);
    assert_eq!(l.balance(T), Some(70));
    l.committed(payer(true), 30);
    assert!(l.resync(l.generation(), &[(U, 970), (T, 70)]));
    assert_eq!(l.balance(T), Some(70));
}

#[test]
fn resync_keeps_what_is_not_committed_yet() {
    let l = loaded(1000, Some(500));
    assert_eq!(l.reserve(payer(true), 100, true), Ok(()));
    l.credit(payer(true), 30); // settled at 70
    assert_eq!((l.balance(U), l.balance(T)), (Some(930), Some(430)));
    // Another instance topped the user up by 1000; nothing of ours is committed yet.
    assert!(l.resync(l.generation(), &[(U, 2000), (T, 500)]));
    assert_eq!((l.balance(U), l.balance(T)), (Some(1930), Some(430)));
    // Our 70 is committed: the database now shows it.
    let before = l.generation();
    l.committed(payer(true), 70);
    assert!(
        !l.resync(before, &[(U, 2000), (T, 500)]),
        "a read from before the commit is dropped"
    );
    assert!(l.resync(l.generation(), &[(U, 1930), (T, 430)]));
    assert_eq!((l.balance(U), l.balance(T)), (Some(1930), Some(430)));
    let mut accounts = l.loaded();
    accounts.sort();
    assert_eq!(accounts, vec![U, T]);
}

#[test]
fn withdrawn_slices_and_outstanding_leave_the_book() {
    let l = loaded(100, None);
    assert_eq!(l.reserve(payer(false), 30, true), Ok(()));
    assert_eq!(l.withdraw(U), 70);
    assert_eq!(l.balance(U), Some(0));
    assert_eq!(l.withdraw(U), 0, "nothing twice");
    assert_eq!(l.reserve(payer(false), 0, false), Ok(()));
    l.credit(payer(false), 10);
    assert_eq!(l.drop_slices(), vec![(U, 20)], "what calls still hold");
    assert_eq!(l.balance(U), Some(0));
}

#[test]
#[allow(clippy::disallowed_methods)] // threads racing for one balance are the test
fn concurrent_reservations_never_overdraw() {
    let l = std::sync::Arc::new(loaded(1000, None));
    let handles: Vec<_> = (0..8)
        .map(|_| {
            let l = l.clone();
            std::thread::spawn(move || {
                (0..100)
                    .filter(|_| l.reserve(payer(false), 3, true).is_ok())
                    .count()
            })
        })
        .collect();
    let ok: usize = handles.into_iter().map(|h| h.join().unwrap_or(0)).sum();
    assert_eq!(ok, 333);
    assert_eq!(l.balance(U), Some(1));
}
