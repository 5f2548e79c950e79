"""The ImageNet loader against torchvision's, in the same run, alternating (issue 13).

Both read the same JPEG ImageFolder with the same transforms and worker count and report
images/s for a full pass:
  - training: RandomResizedCrop(224) + horizontal flip + normalisation;
  - evaluation: Resize(256) + CenterCrop(224) + normalisation.
torchvision: `ImageFolder` + `DataLoader(num_workers=W, batch_size=64, shuffle=True)` on PIL.
Ours: `bench_loader` (experiments/src/bin/bench_loader.rs), W loader threads, the run's order.

    python3 benches/peer/loader_bench.py make DIR [PHOTOS...]     # the photo ImageFolder
    python3 benches/peer/loader_bench.py run DIR BENCH_LOADER [--reps 3] [--workers 1 2]

`make` re-encodes photographs at ImageNet's typical sizes (500x375, 375x500, 500x333, 400x300 and
crops; quality 90): scikit-image's sample photographs when no PHOTOS are given (from an installed
skimage, or a wheel named by SKIMAGE_WHEEL). 8 classes, 64 training and 32 validation images each.
"""
import glob, io, json, os, subprocess, sys, time, zipfile

PHOTO_NAMES = ["astronaut.png", "chelsea.png", "coffee.png", "rocket.jpg", "motorcycle_left.png",
               "motorcycle_right.png", "hubble_deep_field.jpg", "retina.jpg", "ihc.png", "color.png"]


def sample_photos():
    from PIL import Image
    wheel = os.environ.get("SKIMAGE_WHEEL")
    if wheel:
        z = zipfile.ZipFile(wheel)
        return [Image.open(io.BytesIO(z.read("skimage/data/" + n))).convert("RGB") for n in PHOTO_NAMES]
    import skimage.data
    folder = os.path.dirname(skimage.data.__file__)
    return [Image.open(os.path.join(folder, n)).convert("RGB") for n in PHOTO_NAMES]


def make(out, paths):
    from PIL import Image
    photos = [Image.open(p).convert("RGB") for p in paths] if paths else sample_photos()
    sizes = [(500, 375), (375, 500), (500, 333), (400, 300), (500, 400), (333, 500)]
    k = 0
    for split, per in [("train", 64), ("val", 32)]:
        for c in range(8):
            d = os.path.join(out, split, f"n{c:08d}")
            os.makedirs(d, exist_ok=True)
            for i in range(per):
                im = photos[(k * 7 + c) % len(photos)]
                w, h = im.size
                # a different crop of the photograph each time, then ImageNet's typical size
                f = 0.6 + 0.4 * ((k * 37) % 11) / 10
                cw, ch = int(w * f), int(h * f)
                x0, y0 = (k * 53) % (w - cw + 1), (k * 29) % (h - ch + 1)
                size = sizes[k % len(sizes)]
                im.crop((x0, y0, x0 + cw, y0 + ch)).resize(size, Image.BICUBIC).save(
                    os.path.join(d, f"img_{k:05d}.JPEG"), quality=90)
                k += 1
    print(f"{k} JPEGs in {out}")


def torch_pass(root, transform, workers, batch=64):
    import torch
    from torchvision import datasets, transforms as T
    torch.set_num_threads(1)
    norm = T.Normalize([0.485, 0.456, 0.406], [0.229, 0.224, 0.225])
    if transform == "train":
        tf = T.Compose([T.RandomResizedCrop(224), T.RandomHorizontalFlip(), T.ToTensor(), norm])
        split = "train"
    else:
        tf = T.Compose([T.Resize(256), T.CenterCrop(224), T.ToTensor(), norm])
        split = "val"
    ds = datasets.ImageFolder(os.path.join(root, split), tf)
    dl = torch.utils.data.DataLoader(ds, batch_size=batch, shuffle=transform == "train",
                                     num_workers=workers)
    t0, n = time.perf_counter(), 0
    for x, y in dl:
        n += x.shape[0]
    return n / (time.perf_counter() - t0)


def ours_pass(bench, root, transform, workers):
    out = subprocess.run([bench, "--data", root, "--transform", transform, "--workers", str(workers)],
                         check=True, capture_output=True, text=True).stdout
    return json.loads(out.strip().splitlines()[-1])["images_per_s"]


def run(root, bench, reps, worker_counts):
    rows = {}
    for rep in range(reps):
        for w in worker_counts:
            for transform in ["train", "eval"]:
                # alternate which side goes first
                sides = [("torchvision", lambda: torch_pass(root, transform, w)),
                         ("ours", lambda: ours_pass(bench, root, transform, w))]
                for name, f in (sides if rep % 2 == 0 else sides[::-1]):
                    rows.setdefault((transform, w, name), []).append(f())
    print("| transform | workers | torchvision images/s | ours images/s | ours / torchvision |")
    print("|---|---|---|---|---|")
    for transform in ["train", "eval"]:
        for w in worker_counts:
            t = sorted(rows[(transform, w, "torchvision")])[reps // 2]
            o = sorted(rows[(transform, w, "ours")])[reps // 2]
            print(f"| {transform} | {w} | {t:.0f} | {o:.0f} | {o / t:.2f} |")
    print(f"(medians of {reps} passes each, alternating)")


def main():
    if sys.argv[1] == "make":
        make(sys.argv[2], sys.argv[3:])
    else:
        args = sys.argv[4:]
        reps = int(args[args.index("--reps") + 1]) if "--reps" in args else 3
        workers = [int(v) for v in args[args.index("--workers") + 1:]] if "--workers" in args else [1, 2]
        run(sys.argv[2], sys.argv[3], reps, workers)


main()
