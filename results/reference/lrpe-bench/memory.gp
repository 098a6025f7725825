# lrpe report plot; re-run in this folder with: gnuplot memory.gp (writes memory.png and memory.svg)
if (strstrt(GPVAL_TERMINALS, 'pngcairo') > 0) {
    set terminal pngcairo size 900,550 noenhanced font 'Sans,10'
} else {
    set terminal png size 900,550 noenhanced
}
set output 'memory.png'
set title 'lrpe-bench: peak memory against sequence length (lrpe bench)'
set xlabel 'sequence length (tokens, log2 scale)'
set ylabel 'peak resident memory (MB)'
set grid lw 0.5 lc rgb '#dddddd'
set border lw 1
set logscale x 2
set format x '%.0f'
set key outside right top vertical Left reverse
plot 'bench.dat' index 0 using 1:6 with linespoints lw 2 pt 7 ps 0.8 lc rgb '#0072b2' title 'default (attention=linear)', \
     'bench.dat' index 1 using 1:6 with linespoints lw 2 pt 7 ps 0.8 lc rgb '#d55e00' title 'default (attention=softmax)'
set terminal svg size 900,550 noenhanced font 'Sans,10' background rgb 'white'
set output 'memory.svg'
replot
set output
