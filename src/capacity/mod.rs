//! `wschaos capacity`: raise the client count step by step in one run, judge each step over
//! its own window, and report the last step that held.

pub mod report;
pub mod steps;
pub mod verdict;
