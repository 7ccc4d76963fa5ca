"""The rows of an Excel sheet that hold something, read as a stream.

openpyxl's own row iterator fills every gap between two rows with empty rows, as wide as the
widest row: a 5 KB file whose one data row is numbered 1,048,576 made it yield a million rows of
501 empty cells (150 s and 4.5 GB in a dry run). Here the sheet's XML is parsed row by row by
openpyxl's parser, and only the rows with a value come out, each as {column index: value}, with
the row number Excel shows. A gap costs nothing, a row past Excel's last row stops the reading,
and a value past the last column read stops it too, each with a message that says what to do.
"""

from __future__ import annotations

from collections.abc import Iterator

EXCEL_LAST_ROW = 1_048_576  # Excel's own limit; openpyxl reads past it


class SheetRefused(ValueError):
    """The sheet cannot be read; the message says why and what to do."""


def sheet_rows(book, sheet, *, data_only: bool, max_columns: int) -> Iterator[tuple[int, dict]]:
    """(row number, {0-based column: value}) for each row of `sheet` that holds a value.

    `book` is a workbook opened by openpyxl in read-only mode and `sheet` one of its sheets.
    With data_only False a formula cell's value is its formula ("=SUM(...)").
    """
    from openpyxl.worksheet._reader import WorkSheetParser  # the parser openpyxl itself uses

    with book._archive.open(sheet._worksheet_path) as source:
        parser = WorkSheetParser(source, sheet._shared_strings, data_only=data_only,
                                 epoch=book.epoch, date_formats=book._date_formats,
                                 timedelta_formats=book._timedelta_formats)
        for number, cells in parser.parse():
            if number > EXCEL_LAST_ROW:
                raise SheetRefused(f"Row {number:,}: this sheet has rows past Excel's last "
                                   f"row ({EXCEL_LAST_ROW:,}), so it was not written by Excel. "
                                   "Open it in Excel or another spreadsheet, save it as .xlsx, "
                                   "and upload the new copy (or save it as CSV).")
            values = {}
            for cell in cells:
                value = cell["value"]
                if value is None or value == "":
                    continue
                column = cell["column"]
                if column > max_columns:
                    raise SheetRefused(f"Row {number}: the sheet has more than "
                                       f"{max_columns:,} columns (a value in column "
                                       f"{column:,}); at most {max_columns:,} are read. Use "
                                       "the template's layout or split the file by measure.")
                values[column - 1] = value
            if values:
                yield number, values
