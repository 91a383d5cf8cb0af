//! Paged lists: `page` (from 1) and `per_page` (default 50, at most 200) in, `{items, total,
//! page, per_page}` out.

use std::collections::HashMap;

use serde::Serialize;
use utoipa::ToSchema;

use crate::error::{ApiError, FieldProblem};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Paging {
    pub page: i64,
    pub per_page: i64,
}

impl Paging {
    /// Read `page` and `per_page` from a query string's values; bad ones are 422 with the field.
    pub fn from_query(query: &HashMap<String, String>) -> Result<Self, ApiError> {
        let number = |name: &str, default: i64, max: i64| -> Result<i64, ApiError> {
            match query.get(name).map(|v| v.trim()).filter(|v| !v.is_empty()) {
                None => Ok(default),
                Some(v) => v
                    .parse::<i64>()
                    .ok()
                    .filter(|n| (1..=max).contains(n))
                    .ok_or_else(|| ApiError::field(name, FieldProblem::Invalid)),
            }
        };
        Ok(Self {
            page: number("page", 1, 1_000_000)?,
            per_page: number("per_page", 50, 200)?,
        })
    }

    pub fn limit(self) -> i64 {
        self.per_page
    }

    pub fn offset(self) -> i64 {
        (self.page - 1) * self.per_page
    }

    pub fn wrap<T>(self, items: Vec<T>, total: i64) -> Page<T> {
        Page {
            items,
            total,
            page: self.page,
            per_page: self.per_page,
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Page<T> {
    pub items: Vec<T>,
    pub total: i64,
    pub page: i64,
    pub per_page: i64,
}
