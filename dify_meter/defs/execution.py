import dagster as dg


@dg.definitions
def execution() -> dg.Definitions:
    # DuckDB allows one writing process per file: run every step of a run in one process.
    return dg.Definitions(executor=dg.in_process_executor)
