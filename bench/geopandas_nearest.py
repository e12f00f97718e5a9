"""GeoPandas peer for bench/analyze_vs_geopandas.sh: nearest river and nearest border for the same
points, with sjoin_nearest in UTM zone 42N (EPSG:32642), the usual way an analyst would do it.
Prints the seconds each join took, as JSON."""
import json
import sys
import time

import geopandas as gpd
import pandas as pd

points_csv, data_dir = sys.argv[1], sys.argv[2]
t0 = time.perf_counter()
df = pd.read_csv(points_csv)
pts = gpd.GeoDataFrame(df, geometry=gpd.points_from_xy(df.lon, df.lat), crs="EPSG:4326").to_crs(32642)
rivers = gpd.read_file(f"{data_dir}/rivers.geojson")
rivers = rivers[rivers["feature_class"] != "Canal"].to_crs(32642)
borders = gpd.read_file(f"{data_dir}/borders.geojson").to_crs(32642)
t_load = time.perf_counter() - t0

t0 = time.perf_counter()
r = gpd.sjoin_nearest(pts, rivers[["id", "geometry"]], distance_col="river_distance_m")
t_rivers = time.perf_counter() - t0
t0 = time.perf_counter()
b = gpd.sjoin_nearest(pts, borders[["id", "geometry"]], distance_col="border_distance_m")
t_borders = time.perf_counter() - t0
print(json.dumps({"load_s": t_load, "rivers_s": t_rivers, "borders_s": t_borders,
                  "points": len(pts), "river_rows": len(r), "border_rows": len(b)}))
