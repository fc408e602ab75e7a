import os
import secrets

# Ids are sealed with the installation's secret: the test session and every API process it
# serves share one of their own (tests.gql.conftest passes it on), made before any setting is read.
os.environ.setdefault("JOBTOWER_ID_SECRET", secrets.token_hex(32))
