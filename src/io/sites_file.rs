//! Inventory files in and out through GDAL: reading sites for import (any vector format, with a field
//! mapping) and writing the published sites for export.
