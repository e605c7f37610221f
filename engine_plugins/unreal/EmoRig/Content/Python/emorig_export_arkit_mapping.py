"""Export your MetaHuman's ARKit mapping pose asset as an emorig mapping file.

Run inside the Unreal Editor (Python Editor Script Plugin enabled), from the
Output Log's Python console or `File > Execute Python Script`:

    import emorig_export_arkit_mapping as m
    m.export("/Game/MetaHumans/Common/Common/mh_arkit_mapping_pose", "C:/temp/my_rig_mapping.json")

(The asset path is where your MetaHuman's `mh_arkit_mapping_pose` lives; right-click
the asset > Copy Reference gives it.) Then, outside Unreal:

    emorig retarget take.csv -o mh.csv --to metahuman --mapping C:/temp/my_rig_mapping.json

Why: the weights that turn ARKit shapes into CTRL_expressions curves come with the
rig, and rig versions differ. emorig ships Epic's published weights; this file
makes emorig use exactly the ones in your project.

How: a pose asset is built from an animation sequence with one frame per pose.
The script reads each float curve of that sequence at each pose's frame and,
because the mapping pose is additive, subtracts the base (reference) frame's value.
The format written is documented in docs/rig-spaces.md ("Mapping files").
Unreal's Python has no numpy, so this is plain Python.
"""

import json

import unreal

FORMAT = "emorig-mapping"
VERSION = 1


def _value_at(times, values, t):
    """Linear interpolation of a curve's keys at time t."""
    if not times:
        return 0.0
    if t <= times[0]:
        return values[0]
    for i in range(1, len(times)):
        if t <= times[i]:
            span = times[i] - times[i - 1]
            a = 0.0 if span <= 0 else (t - times[i - 1]) / span
            return values[i - 1] + a * (values[i] - values[i - 1])
    return values[-1]


def read_pose_weights(pose_asset):
    """{pose name: {curve name: additive weight}} of a pose asset."""
    sequence = pose_asset.get_editor_property("source_animation")
    if sequence is None:
        raise RuntimeError(f"{pose_asset.get_path_name()} has no source animation to read curves from")
    pose_names = [str(n) for n in pose_asset.get_pose_names()]
    lib = unreal.AnimationLibrary
    curve_names = [str(n) for n in lib.get_animation_curve_names(sequence, unreal.RawCurveType.FLOAT_CURVE)]
    keys = {}
    for curve in curve_names:
        times, values = lib.get_float_keys(sequence, curve)
        keys[curve] = (list(times), list(values))
    additive = bool(pose_asset.get_editor_property("additive_pose"))
    # Frame 0 is the reference pose when the asset's poses start at frame 1; by convention in the
    # MetaHuman mapping asset the pose count equals the frame count minus one in that case.
    frames = lib.get_num_frames(sequence)
    first = 1 if frames > len(pose_names) else 0
    base_time = lib.get_time_at_frame(sequence, 0)
    poses = {}
    for i, pose in enumerate(pose_names):
        t = lib.get_time_at_frame(sequence, i + first)
        weights = {}
        for curve, (times, values) in keys.items():
            w = _value_at(times, values, t)
            if additive and first:
                w -= _value_at(times, values, base_time)
            if abs(w) > 1e-6:
                weights[curve] = round(w, 6)
        poses[pose] = weights
    return poses


def export(asset_path, out_path, target="metahuman"):
    """Write the emorig mapping JSON for the pose asset at `asset_path`."""
    asset = unreal.load_asset(asset_path)
    if asset is None or not isinstance(asset, unreal.PoseAsset):
        raise RuntimeError(f"{asset_path} is not a PoseAsset")
    doc = {
        "format": FORMAT,
        "version": VERSION,
        "kind": "additive-poses",
        "source": "arkit",
        "target": target,
        "poses": read_pose_weights(asset),
        "note": f"exported from {asset_path} (Unreal {unreal.SystemLibrary.get_engine_version()})",
    }
    with open(out_path, "w", encoding="utf-8") as f:
        json.dump(doc, f, indent=1)
    unreal.log(f"emorig: wrote {len(doc['poses'])} poses to {out_path}")
    return out_path
