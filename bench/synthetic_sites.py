"""Writes N seeded synthetic sites as CSV (the benchmarks' shared input): synthetic_sites.py PATH N."""
import random
import sys

path, n = sys.argv[1], int(sys.argv[2])
rng = random.Random(42)
countries = ["KAZ", "KGZ", "TJK", "UZB"]
with open(path, "w") as f:
    f.write("id,name,kind,activity,country,status,lon,lat,precision,volume_m3,dam_height_m,substances,sources\n")
    for i in range(n):
        f.write(f"bench_{i:07d},Synthetic site {i},tailings,benchmark,{rng.choice(countries)},legacy,"
                f"{rng.uniform(60, 78):.5f},{rng.uniform(38, 47):.5f},site,{rng.uniform(1e4, 1e7):.0f},"
                f"{rng.uniform(2, 60):.1f},\"[\"\"U\"\",\"\"Ra-226\"\"]\",seeded synthetic benchmark data\n")
