pub mod backlog;
