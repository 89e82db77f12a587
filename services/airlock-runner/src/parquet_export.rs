//! A PostgreSQL table as a Parquet file: its rows streamed in batches (memory bounded whatever
//! the table's size) into a temporary file, booleans, integers and floats as themselves and
//! every other type as its text form, all columns nullable.

use std::io::{Seek, SeekFrom};
use std::sync::Arc;

use arrow_array::builder::{
    ArrayBuilder, BooleanBuilder, Float32Builder, Float64Builder, Int16Builder, Int32Builder,
    Int64Builder, StringBuilder,
};
use arrow_array::{ArrayRef, RecordBatch};
use arrow_schema::{DataType, Field, Schema};
use futures::{pin_mut, TryStreamExt};
use parquet::arrow::ArrowWriter;
use parquet::basic::Compression;
use parquet::file::properties::WriterProperties;
use tokio_postgres::types::Type;
use tokio_postgres::Row;

/// Rows per record batch (and so per row group's pages): bounds the memory of an export.
const BATCH_ROWS: usize = 8192;

#[derive(Clone, Copy)]
enum Kind {
    Bool,
    I16,
    I32,
    I64,
    F32,
    F64,
    Text,
}

fn kind(t: &Type) -> Kind {
    match *t {
        Type::BOOL => Kind::Bool,
        Type::INT2 => Kind::I16,
        Type::INT4 => Kind::I32,
        Type::INT8 => Kind::I64,
        Type::FLOAT4 => Kind::F32,
        Type::FLOAT8 => Kind::F64,
        _ => Kind::Text,
    }
}

fn data_type(k: Kind) -> DataType {
    match k {
        Kind::Bool => DataType::Boolean,
        Kind::I16 => DataType::Int16,
        Kind::I32 => DataType::Int32,
        Kind::I64 => DataType::Int64,
        Kind::F32 => DataType::Float32,
        Kind::F64 => DataType::Float64,
        Kind::Text => DataType::Utf8,
    }
}

fn builder(k: Kind) -> Box<dyn ArrayBuilder> {
    match k {
        Kind::Bool => Box::new(BooleanBuilder::new()),
        Kind::I16 => Box::new(Int16Builder::new()),
        Kind::I32 => Box::new(Int32Builder::new()),
        Kind::I64 => Box::new(Int64Builder::new()),
        Kind::F32 => Box::new(Float32Builder::new()),
        Kind::F64 => Box::new(Float64Builder::new()),
        Kind::Text => Box::new(StringBuilder::new()),
    }
}

fn append(b: &mut Box<dyn ArrayBuilder>, k: Kind, row: &Row, i: usize) -> Result<(), String> {
    let wrong = || format!("column {i} does not hold its declared type");
    let any = b.as_any_mut();
    let e = |err: tokio_postgres::Error| err.to_string();
    match k {
        Kind::Bool => any
            .downcast_mut::<BooleanBuilder>()
            .ok_or_else(wrong)?
            .append_option(row.try_get::<_, Option<bool>>(i).map_err(e)?),
        Kind::I16 => any
            .downcast_mut::<Int16Builder>()
            .ok_or_else(wrong)?
            .append_option(row.try_get::<_, Option<i16>>(i).map_err(e)?),
        Kind::I32 => any
            .downcast_mut::<Int32Builder>()
            .ok_or_else(wrong)?
            .append_option(row.try_get::<_, Option<i32>>(i).map_err(e)?),
        Kind::I64 => any
            .downcast_mut::<Int64Builder>()
            .ok_or_else(wrong)?
            .append_option(row.try_get::<_, Option<i64>>(i).map_err(e)?),
        Kind::F32 => any
            .downcast_mut::<Float32Builder>()
            .ok_or_else(wrong)?
            .append_option(row.try_get::<_, Option<f32>>(i).map_err(e)?),
        Kind::F64 => any
            .downcast_mut::<Float64Builder>()
            .ok_or_else(wrong)?
            .append_option(row.try_get::<_, Option<f64>>(i).map_err(e)?),
        Kind::Text => any
            .downcast_mut::<StringBuilder>()
            .ok_or_else(wrong)?
            .append_option(row.try_get::<_, Option<String>>(i).map_err(e)?),
    }
    Ok(())
}

fn quote(ident: &str) -> String {
    format!("\"{}\"", ident.replace('"', "\"\""))
}

/// Export `table` (already quoted) into a temporary file; returns it positioned at its start,
/// with its size.
pub(crate) async fn export(
    client: &tokio_postgres::Client,
    table: &str,
) -> Result<(std::fs::File, u64), String> {
    let probe = client
        .prepare(&format!("SELECT * FROM {table} LIMIT 0"))
        .await
        .map_err(|e| e.to_string())?;
    let columns: Vec<(String, Kind)> = probe
        .columns()
        .iter()
        .map(|c| (c.name().to_string(), kind(c.type_())))
        .collect();
    let select: Vec<String> = columns
        .iter()
        .map(|(n, k)| match k {
            Kind::Text => format!("{q}::text AS {q}", q = quote(n)),
            _ => quote(n),
        })
        .collect();
    let schema = Arc::new(Schema::new(
        columns
            .iter()
            .map(|(n, k)| Field::new(n, data_type(*k), true))
            .collect::<Vec<_>>(),
    ));
    let file = tempfile::tempfile().map_err(|e| format!("a temporary file: {e}"))?;
    let props = WriterProperties::builder()
        .set_compression(Compression::SNAPPY)
        .build();
    let mut writer =
        ArrowWriter::try_new(file, schema.clone(), Some(props)).map_err(|e| e.to_string())?;
    let rows = client
        .query_raw(
            &format!("SELECT {} FROM {table}", select.join(", ")),
            std::iter::empty::<&str>(),
        )
        .await
        .map_err(|e| e.to_string())?;
    pin_mut!(rows);
    let mut builders: Vec<Box<dyn ArrayBuilder>> =
        columns.iter().map(|(_, k)| builder(*k)).collect();
    let mut pending = 0usize;
    let flush = |builders: &mut Vec<Box<dyn ArrayBuilder>>,
                 writer: &mut ArrowWriter<std::fs::File>|
     -> Result<(), String> {
        let arrays: Vec<ArrayRef> = builders.iter_mut().map(|b| b.finish()).collect();
        let batch = RecordBatch::try_new(schema.clone(), arrays).map_err(|e| e.to_string())?;
        writer.write(&batch).map_err(|e| e.to_string())
    };
    while let Some(row) = rows.try_next().await.map_err(|e| e.to_string())? {
        for (i, (b, (_, k))) in builders.iter_mut().zip(&columns).enumerate() {
            append(b, *k, &row, i)?;
        }
        pending += 1;
        if pending == BATCH_ROWS {
            flush(&mut builders, &mut writer)?;
            pending = 0;
        }
    }
    if pending > 0 {
        flush(&mut builders, &mut writer)?;
    }
    let mut file = writer.into_inner().map_err(|e| e.to_string())?;
    let size = file
        .seek(SeekFrom::End(0))
        .map_err(|e| format!("the temporary file: {e}"))?;
    file.seek(SeekFrom::Start(0))
        .map_err(|e| format!("the temporary file: {e}"))?;
    Ok((file, size))
}
