//! Accounts, API keys, balances and holds.
//!
//! Every amount is an integer count of `10^-8` of its asset ([`crate::units::ASSET_DECIMALS`]).
//! Per account and asset the ledger keeps a `total` and the part of it `held` for open orders;
//! `available = total - held`. Only [`Ledger::reserve`] lowers `available`, and it checks first,
//! so reserving is the one place risk can refuse an order. Every other operation (settling a
//! fill, releasing a hold, depositing) is an addition, so applying the same operations in a
//! different interleaving across symbols (as a journal replay may) ends in the same balances.
//! Transfers move an amount from one account to another, so each asset's total over all
//! accounts always equals what was deposited.

use std::collections::{BTreeMap, HashMap};

use matching::AccountId;
use serde::{Deserialize, Serialize};
use sha2::{Digest as _, Sha256};

/// Index of an asset in [`Ledger::assets`].
pub type AssetId = usize;

/// One asset's balance in one account.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Balance {
    /// Everything the account owns.
    pub total: i128,
    /// Part of `total` reserved for open orders.
    pub held: i128,
}

impl Balance {
    /// `total - held`.
    pub fn available(&self) -> i128 {
        self.total - self.held
    }
}

/// An account.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Account {
    /// Its id.
    pub id: AccountId,
    /// A label given at creation (e.g. `demo-3`).
    pub name: String,
    /// Balance per asset, indexed by [`AssetId`].
    pub balances: Vec<Balance>,
}

/// The SHA-256 of an API key; the ledger never stores keys themselves.
pub type KeyHash = [u8; 32];

/// Hashes an API key.
pub fn hash_key(key: &str) -> KeyHash {
    Sha256::digest(key.as_bytes()).into()
}

/// Lowercase hex of a key hash (how the journal stores it).
pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Parses [`hex`] output back.
pub fn unhex(text: &str) -> Option<KeyHash> {
    let mut out = [0u8; 32];
    if text.len() != 64 {
        return None;
    }
    for (i, chunk) in text.as_bytes().chunks(2).enumerate() {
        let s = std::str::from_utf8(chunk).ok()?;
        out[i] = u8::from_str_radix(s, 16).ok()?;
    }
    Some(out)
}

/// A new random API key (from the OS-seeded CSPRNG).
pub fn new_api_key() -> String {
    let bytes: [u8; 24] = rand::random();
    format!("sk_{}", hex(&bytes))
}

/// Why the ledger refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LedgerError {
    /// No such account.
    #[error("unknown account {0}")]
    UnknownAccount(AccountId),
    /// Available balance too small for the hold.
    #[error("insufficient {asset}: need {needed}, available {available}")]
    InsufficientFunds {
        /// Asset name.
        asset: String,
        /// Units required.
        needed: i128,
        /// Units available.
        available: i128,
    },
    /// An amount would overflow.
    #[error("amount out of range")]
    Overflow,
    /// Account id or key already exists.
    #[error("account or key already exists")]
    Duplicate,
}

/// All accounts and balances.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Ledger {
    /// Asset names, e.g. `["BTC", "USD", "ETH"]`.
    pub assets: Vec<String>,
    /// Accounts by id; a `BTreeMap` so iteration (digest, listing) is ordered.
    pub accounts: BTreeMap<AccountId, Account>,
    /// API key hash to account.
    pub keys: HashMap<String, AccountId>,
    /// Sum of deposits per asset: the conservation invariant's right-hand side.
    pub deposited: Vec<i128>,
}

/// Deposits larger than this (in units) are refused, keeping every sum far from `i128` limits.
pub const MAX_DEPOSIT: u128 = 1_000_000_000_000_000_000_000_000;

impl Ledger {
    /// An empty ledger over `assets`.
    pub fn new(assets: Vec<String>) -> Self {
        let n = assets.len();
        Self {
            assets,
            accounts: BTreeMap::new(),
            keys: HashMap::new(),
            deposited: vec![0; n],
        }
    }

    /// Index of an asset by name.
    pub fn asset_id(&self, name: &str) -> Option<AssetId> {
        self.assets.iter().position(|a| a == name)
    }

    /// Adds an account with the given key hash.
    pub fn create_account(
        &mut self,
        id: AccountId,
        name: &str,
        key_hash: &KeyHash,
    ) -> Result<(), LedgerError> {
        let key = hex(key_hash);
        if self.accounts.contains_key(&id) || self.keys.contains_key(&key) {
            return Err(LedgerError::Duplicate);
        }
        self.accounts.insert(
            id,
            Account {
                id,
                name: name.to_owned(),
                balances: vec![Balance::default(); self.assets.len()],
            },
        );
        self.keys.insert(key, id);
        Ok(())
    }

    /// The account a key belongs to.
    pub fn account_for_key(&self, key_hash: &KeyHash) -> Option<AccountId> {
        self.keys.get(&hex(key_hash)).copied()
    }

    /// Next unused account id.
    pub fn next_account_id(&self) -> AccountId {
        self.accounts.keys().next_back().map_or(1, |id| id + 1)
    }

    fn balance_mut(
        &mut self,
        account: AccountId,
        asset: AssetId,
    ) -> Result<&mut Balance, LedgerError> {
        self.accounts
            .get_mut(&account)
            .and_then(|a| a.balances.get_mut(asset))
            .ok_or(LedgerError::UnknownAccount(account))
    }

    /// Whether [`Ledger::deposit`] would accept this.
    pub fn check_deposit(
        &self,
        account: AccountId,
        asset: AssetId,
        amount: u128,
    ) -> Result<(), LedgerError> {
        let balance = self
            .accounts
            .get(&account)
            .and_then(|a| a.balances.get(asset))
            .ok_or(LedgerError::UnknownAccount(account))?;
        let amount = i128::try_from(amount).map_err(|_| LedgerError::Overflow)?;
        if amount > MAX_DEPOSIT as i128 || balance.total.checked_add(amount).is_none() {
            return Err(LedgerError::Overflow);
        }
        Ok(())
    }

    /// Credits a deposit.
    pub fn deposit(
        &mut self,
        account: AccountId,
        asset: AssetId,
        amount: u128,
    ) -> Result<(), LedgerError> {
        if amount > MAX_DEPOSIT {
            return Err(LedgerError::Overflow);
        }
        let amount = i128::try_from(amount).map_err(|_| LedgerError::Overflow)?;
        let balance = self.balance_mut(account, asset)?;
        balance.total = balance
            .total
            .checked_add(amount)
            .ok_or(LedgerError::Overflow)?;
        self.deposited[asset] += amount;
        Ok(())
    }

    /// Checks that `amount` is available and holds it. With `check` false (journal replay) the
    /// hold is applied unconditionally: the live run already checked it.
    pub fn reserve(
        &mut self,
        account: AccountId,
        asset: AssetId,
        amount: i128,
        check: bool,
    ) -> Result<(), LedgerError> {
        let name = self.assets.get(asset).cloned().unwrap_or_default();
        let balance = self.balance_mut(account, asset)?;
        if check && balance.available() < amount {
            return Err(LedgerError::InsufficientFunds {
                asset: name,
                needed: amount,
                available: balance.available(),
            });
        }
        balance.held += amount;
        Ok(())
    }

    /// Changes a hold by `delta` (negative releases). Never refuses: callers only grow holds
    /// through [`Ledger::reserve`].
    pub fn adjust_hold(&mut self, account: AccountId, asset: AssetId, delta: i128) {
        if let Ok(balance) = self.balance_mut(account, asset) {
            balance.held += delta;
        }
    }

    /// Moves `amount` of `asset` from `from` (paid out of its hold) to `to`.
    pub fn transfer_held(&mut self, from: AccountId, to: AccountId, asset: AssetId, amount: i128) {
        if let Ok(balance) = self.balance_mut(from, asset) {
            balance.total -= amount;
            balance.held -= amount;
        }
        if let Ok(balance) = self.balance_mut(to, asset) {
            balance.total += amount;
        }
    }

    /// Per asset: (sum of totals over accounts, sum of deposits). Equal when conserved.
    pub fn conservation(&self) -> Vec<(String, i128, i128)> {
        self.assets
            .iter()
            .enumerate()
            .map(|(i, name)| {
                let total = self.accounts.values().map(|a| a.balances[i].total).sum();
                (name.clone(), total, self.deposited[i])
            })
            .collect()
    }

    /// Whether any balance is negative or over-held (a risk bug if ever true).
    pub fn violations(&self) -> Vec<String> {
        let mut out = Vec::new();
        for account in self.accounts.values() {
            for (i, b) in account.balances.iter().enumerate() {
                if b.total < 0 || b.held < 0 || b.held > b.total {
                    out.push(format!(
                        "account {} {}: total {} held {}",
                        account.id, self.assets[i], b.total, b.held
                    ));
                }
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reserve_checks_and_transfers_conserve() {
        let mut ledger = Ledger::new(vec!["BTC".into(), "USD".into()]);
        ledger.create_account(1, "a", &hash_key("ka")).expect("new");
        ledger.create_account(2, "b", &hash_key("kb")).expect("new");
        assert_eq!(
            ledger.create_account(3, "c", &hash_key("ka")),
            Err(LedgerError::Duplicate)
        );
        ledger.deposit(1, 1, 1000).expect("deposit");
        ledger.deposit(2, 0, 50).expect("deposit");
        assert!(matches!(
            ledger.reserve(1, 1, 1001, true),
            Err(LedgerError::InsufficientFunds { .. })
        ));
        ledger.reserve(1, 1, 600, true).expect("enough");
        assert!(ledger.reserve(1, 1, 401, true).is_err());
        ledger.transfer_held(1, 2, 1, 250);
        ledger.adjust_hold(1, 1, -350);
        assert_eq!(
            ledger.accounts[&1].balances[1],
            Balance {
                total: 750,
                held: 0
            }
        );
        assert_eq!(
            ledger.accounts[&2].balances[1],
            Balance {
                total: 250,
                held: 0
            }
        );
        for (_, total, deposited) in ledger.conservation() {
            assert_eq!(total, deposited);
        }
        assert!(ledger.violations().is_empty());
        assert_eq!(unhex(&hex(&hash_key("x"))), Some(hash_key("x")));
        assert_eq!(ledger.account_for_key(&hash_key("kb")), Some(2));
    }
}
