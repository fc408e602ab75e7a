from gql.export import SCHEMA_FILE, sdl


def test_schema_graphql_is_generated_from_the_code():
    assert SCHEMA_FILE.read_text() == sdl(), "schema.graphql is stale: run `python -m gql.export`"
