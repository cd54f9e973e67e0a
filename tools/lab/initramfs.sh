# Builds the lab guest's initramfs, sourced by tools/lab/run. Every file keeps its host path in
# the guest, so binaries find the fixtures and build paths compiled into them.

# Prints a word quoted for POSIX sh, which is what busybox runs /lab/command with.
sh_quote() {
  local quote="'"
  printf "'%s'" "${1//$quote/$quote\\$quote$quote}"
}

is_elf() { [[ -f $1 && $(head -c4 "$1" 2>/dev/null) == $'\x7fELF' ]]; }

# Copies FILE to the same path under the guest root, following symlinks.
copy_to_root() {
  mkdir -p "$root$(dirname "$1")"
  cp -L "$1" "$root$1"
}

# Copies the shared libraries and the dynamic loader of every file in elf_files. Files that are
# not dynamic executables or libraries (static binaries, BPF objects) have none to copy.
copy_shared_libraries() {
  local -A copied=()
  local file library output
  for file in "${elf_files[@]}"; do
    output=$(ldd "$file" 2>/dev/null) || continue
    if grep -q 'not found' <<<"$output"; then
      die "shared libraries of $file are missing on this host: $(grep 'not found' <<<"$output")"
    fi
    while read -r library; do
      [[ -z $library || -n ${copied[$library]:-} ]] && continue
      copy_to_root "$library"
      copied[$library]=1
    done < <(awk '$2 == "=>" && $3 ~ /^\// { print $3 } $1 ~ /^\// { print $1 }' <<<"$output")
  done
  if [[ -f /etc/ld.so.cache ]]; then copy_to_root /etc/ld.so.cache; fi
}

# Copies busybox. init links its applets in the guest, because that costs one process there and
# would cost a fork per applet here.
install_busybox() {
  local busybox
  busybox=$(command -v busybox) ||
    die "busybox not found; install the Debian package busybox-static (tools/setup.sh does)"
  mkdir -p "$root"/{bin,sbin,usr/bin,usr/sbin}
  cp -L "$busybox" "$root/bin/busybox"
  elf_files+=("$busybox")
}

# Copies the files of the build's bin/, ELF files without their debug sections, which are most
# of their size and only slow down packing and unpacking the initramfs.
install_build_binaries() {
  local bin=$opt_build_dir/bin file
  if [[ ! -d $bin ]]; then
    verbose "no $bin; the guest gets no build binaries"
    return
  fi
  mkdir -p "$root$bin"
  for file in "$bin"/*; do
    [[ -f $file ]] || continue
    if ! is_elf "$file"; then
      cp -p "$file" "$root$file"
      continue
    fi
    strip --strip-debug -o "$root$file" "$file" 2>/dev/null || cp -p "$file" "$root$file"
    elf_files+=("$file")
  done
}

# Copies a file or folder given with --add (or a default one) to its path in the guest.
install_added_path() {
  local path file
  path=$(realpath -e "$1") || die "--add path '$1' not found"
  mkdir -p "$root$(dirname "$path")"
  cp -a "$path" "$root$(dirname "$path")/"
  while IFS= read -r -d '' file; do
    if is_elf "$file"; then elf_files+=("$file"); fi
  done < <(find "$path" -type f -print0)
}

# Writes /etc, /lab/config and /lab/command, the script that init runs.
write_guest_config() {
  local nonce=$1 cwd env arg
  mkdir -p "$root"/{etc,lab,root,proc,sys,dev,tmp,run}
  echo "root:x:0:0:root:/root:/bin/sh" >"$root/etc/passwd"
  echo "root:x:0:" >"$root/etc/group"
  echo "LAB_NONCE=$nonce" >"$root/lab/config"
  echo "LAB_SHELL=$opt_shell" >>"$root/lab/config"

  cwd=$(pwd -P)
  mkdir -p "$root$cwd"
  {
    echo "cd $(sh_quote "$cwd") || exit 125"
    echo "export PATH=$(sh_quote "$opt_build_dir/bin:/usr/sbin:/usr/bin:/sbin:/bin")"
    # TERM=dumb keeps colour codes (gtest's, for one) out of the serial console.
    echo "export HOME=/root TMPDIR=/tmp TERM=dumb"
    for env in "${opt_envs[@]}"; do echo "export $(sh_quote "$env")"; done
    printf 'exec'
    for arg in "${command_args[@]}"; do printf ' %s' "$(sh_quote "$arg")"; done
    printf '\n'
  } >"$root/lab/command"
}

# Builds $work/initramfs.cpio.gz (cpio newc, gzip) for one run: build_initramfs NONCE.
build_initramfs() {
  root=$work/root
  elf_files=()
  mkdir -p "$root"
  install_busybox
  cp "$lab_dir/init" "$root/init"
  chmod 755 "$root/init"

  opt_build_dir=$(realpath -m "$opt_build_dir")
  install_build_binaries
  local path
  for path in "$source_dir/tests/fixtures" "$source_dir/tests/lab"; do
    if [[ -d $path ]]; then install_added_path "$path"; fi
  done
  for path in "${opt_adds[@]}"; do install_added_path "$path"; done
  copy_shared_libraries
  write_guest_config "$1"

  command -v cpio >/dev/null || die "cpio not found; install the Debian package cpio"
  (cd "$root" && find . -print0 | cpio --null -o -H newc --quiet -R 0:0) |
    gzip -1 >"$work/initramfs.cpio.gz"
}
