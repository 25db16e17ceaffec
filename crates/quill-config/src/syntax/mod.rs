//! Syntax: lines, words, containers, includes, defines and conditionals.

pub mod ast;
pub mod lexer;
pub mod parser;

pub use ast::{Arg, Directive, Node, Section, walk};
pub use parser::{
    IncludeRecord, Limits, LoadedModule, ParseOptions, ParsedConfig, normalize, parse_file,
    parse_str,
};

#[cfg(test)]
mod tests;
